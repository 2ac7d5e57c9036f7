// npm run sim -- --seeds N [--start S] [--verbose]
// Runs N deterministic simulation seeds; on a failure prints the seed and a one-line command
// that reproduces it, and exits 1.

import { runSeed } from "./sim.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const seeds = arg("seeds", 100);
const start = arg("start", 1);
const verbose = process.argv.includes("--verbose");
const t0 = performance.now();
let failed = 0;
const verdicts = { ok: 0, unknown: 0, illegal: 0 };
const totals: Record<string, number> = {};
for (let seed = start; seed < start + seeds; seed++) {
  const r = runSeed({ seed });
  verdicts[r.linearizable]++;
  for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
  if (verbose || !r.ok)
    console.log(`seed ${seed}: ${r.ok ? "ok" : "FAIL"} ${JSON.stringify(r.stats)}`);
  if (!r.ok) {
    failed++;
    console.log(`  params: ${r.params}`);
    console.log(`  ${r.failure}`);
    console.log(`  reproduce: npm run sim -- --seeds 1 --start ${seed} --verbose`);
  }
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `sim: ${seeds} seeds from ${start}: ${seeds - failed} passed, ${failed} failed in ${secs.toFixed(1)} s` +
    ` (linearizability ok=${verdicts.ok} unknown=${verdicts.unknown} illegal=${verdicts.illegal})`,
);
console.log(`sim totals: ${JSON.stringify(totals)}`);
process.exit(failed > 0 ? 1 : 0);
