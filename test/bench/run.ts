// One entry point for every benchmark: `npm run bench -- <name> [--json] [bench flags]`.
// A bench module exports `bench: Bench`. It prints a readable table as it goes and returns
// one flat JSON-able object; with --json that object is printed as the last line of output.

import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchContext {
  /** Flags after the bench name, without --json. */
  args: string[];
  /** Readable output (a table); goes to stdout. */
  log: (line: string) => void;
}

export interface Bench {
  description: string;
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
}

/** Reads `--name value` (or `--name=value`) as a number. */
export function numberFlag(args: string[], name: string, fallback: number): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const raw =
      a === `--${name}`
        ? args[i + 1]
        : a.startsWith(`--${name}=`)
          ? a.slice(name.length + 3)
          : undefined;
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${raw}`);
    return n;
  }
  return fallback;
}

/** Formats rows as an aligned table. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const here = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith(".bench.ts"))
    .map((f) => f.replace(/\.bench\.ts$/, ""))
    .sort();
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const rest = argv.filter((a) => a !== "--json");
  const name = rest[0];
  if (!name || name.startsWith("-")) {
    console.error(
      `usage: npm run bench -- <name> [--json] [flags]\nbenchmarks: ${available().join(", ")}`,
    );
    process.exit(2);
  }
  if (!available().includes(name)) {
    console.error(`bench: no benchmark "${name}"; have: ${available().join(", ")}`);
    process.exit(2);
  }
  const mod = (await import(join(here, `${name}.bench.ts`))) as { bench: Bench };
  console.log(`bench ${name}: ${mod.bench.description}`);
  const result = await mod.bench.run({ args: rest.slice(1), log: (l) => console.log(l) });
  if (json) console.log(JSON.stringify({ bench: name, ...result }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(`bench: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  });
}
