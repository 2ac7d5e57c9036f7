// Failover: SIGKILL the leader of a three-process cluster under a write load and time until a
// new leader commits a write. The killed member restarts between runs.

import { RaftCluster } from "../cluster/raft-cluster.ts";
import { type Bench, numberFlag, table } from "./run.ts";

async function oneRun(c: RaftCluster): Promise<number> {
  const leader = await c.leader();
  // Load on the followers (forwarded to the leader) keeps the leader busy when it dies.
  const followers = c.ids.filter((id) => id !== leader && c.procs.has(id));
  const loads = followers.map((id) =>
    c
      .call(id, {
        cmd: "load",
        concurrency: 8,
        durationMs: 4000,
        entryBytes: 256,
        tag: `f${Date.now()}`,
      })
      .catch(() => {}),
  );
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  await c.kill(leader);
  const next = await c.leader(30_000, leader);
  await c.call(next, { cmd: "barrier" });
  const ms = performance.now() - t0;
  await Promise.all(loads);
  await c.startMember(leader);
  return ms;
}

export const bench: Bench = {
  description:
    "SIGKILL the leader of 3 member processes under load; time until a new leader commits",
  async run({ args, log }) {
    const runs = numberFlag(args, "runs", 7);
    const c = new RaftCluster(3, 100);
    const times: number[] = [];
    try {
      await c.start();
      for (let i = 0; i < runs; i++) times.push(await oneRun(c));
    } finally {
      await c.close();
    }
    const sorted = [...times].sort((a, b) => a - b);
    const medianMs = Math.round(sorted[Math.floor(sorted.length / 2)]!);
    const maxMs = Math.round(sorted.at(-1)!);
    log(table([["run", "ms"], ...times.map((t, i) => [i + 1, Math.round(t)])]));
    log(
      `median ${medianMs} ms, max ${maxMs} ms (tick 100 ms, election 10-20 ticks, pre-vote + check-quorum)`,
    );
    return { runs, medianMs, maxMs };
  },
};
