// Raft commit throughput and latency: three real member processes on loopback, each with its own
// WAL (fsync per ready batch) and TCP transport; proposers run inside the leader's process.

import { RaftCluster } from "../cluster/raft-cluster.ts";
import { type Bench, numberFlag, table } from "./run.ts";

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const bench: Bench = {
  description:
    "3 member processes on loopback, real WAL + fsync; commits/s and latency by concurrency",
  async run({ args, log }) {
    const seconds = numberFlag(args, "seconds", 5);
    const entryBytes = numberFlag(args, "entry-bytes", 256);
    const levels = [1, 16, 256];
    const c = new RaftCluster(3, 100);
    const commitsPerSec: Record<string, number> = {};
    const p50Ms: Record<string, number> = {};
    const p99Ms: Record<string, number> = {};
    const rows: (string | number)[][] = [
      ["proposers", "commits", "commits/s", "p50 ms", "p99 ms", "errors"],
    ];
    try {
      await c.start();
      const leader = await c.leader();
      for (const n of levels) {
        const r = await c.call<{ commits: number; errors: number; latencies: number[] }>(leader, {
          cmd: "load",
          concurrency: n,
          durationMs: seconds * 1000,
          entryBytes,
          tag: `c${n}`,
        });
        const sorted = r.latencies.sort((a, b) => a - b);
        commitsPerSec[n] = Math.round(r.commits / seconds);
        p50Ms[n] = Number(percentile(sorted, 50).toFixed(2));
        p99Ms[n] = Number(percentile(sorted, 99).toFixed(2));
        rows.push([n, r.commits, commitsPerSec[n]!, p50Ms[n]!, p99Ms[n]!, r.errors]);
      }
    } finally {
      await c.close();
    }
    log(table(rows));
    log(`entries of ~${entryBytes} bytes, ${seconds} s per level, tick 100 ms`);
    return { commitsPerSec, p50Ms, p99Ms, entryBytes, seconds };
  },
};
