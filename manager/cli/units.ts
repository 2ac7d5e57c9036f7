// Operator-friendly values: Go-style durations (`1m30s`), byte sizes (`512M`, `1GiB`), CPUs
// (`0.5`), integers. Each refuses bad input with a UsageError naming the flag and an example.

import { UsageError } from "./args.ts";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(flag: string, v: string): number {
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== v.length || v === "") {
    throw new UsageError(`--${flag}: "${v}" is not a duration (examples: 500ms, 10s, 1m30s, 2h)`);
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

export function parseBytes(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${flag}: "${v}" is not a size (examples: 64M, 512MiB, 1G)`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

export function formatBytes(n: number): string {
  for (const [u, f] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= f) return `${+(n / f).toFixed(1)}${u}`;
  }
  return `${n}B`;
}

export function parseCpus(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n <= 0) {
    throw new UsageError(`--${flag}: "${v}" is not a CPU count (examples: 0.5, 2)`);
  }
  return Math.round(n * 1e9);
}

export function parseInt10(flag: string, v: string, min = 0): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag}: "${v}" is not an integer >= ${min}`);
  }
  return n;
}

export function parseRatio(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1 || v.trim() === "") {
    throw new UsageError(`--${flag}: "${v}" is not a ratio from 0 to 1`);
  }
  return n;
}

/** `k=v` pairs of --label, --env-like flags; `k` alone means an empty value. */
export function parseKeyValue(flag: string, v: string): [string, string] {
  const eq = v.indexOf("=");
  const key = eq < 0 ? v : v.slice(0, eq);
  if (key === "") throw new UsageError(`--${flag}: "${v}" needs a key (key=value)`);
  return [key, eq < 0 ? "" : v.slice(eq + 1)];
}
