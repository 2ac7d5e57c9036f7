// Acknowledged writes survive SIGKILL: three real manager-raft processes under a write load are
// all killed at a random moment, restarted from their data dirs, and every write that was
// acknowledged before the kill must be in the store afterwards.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { test } from "node:test";
import { RaftCluster } from "./raft-cluster.ts";

test("every acknowledged write survives SIGKILL of the whole cluster", async () => {
  for (let round = 0; round < 2; round++) {
    const c = new RaftCluster(3, 50);
    try {
      await c.start();
      const leader = await c.leader();
      await c.call(leader, { cmd: "ack-loop" });
      const waitMs = 300 + randomInt(700);
      await new Promise((r) => setTimeout(r, waitMs));
      await Promise.all(c.ids.map((id) => c.kill(id)));
      const acked = c.acks.get(leader) ?? [];
      assert.ok(acked.length > 0, "the load acknowledged some writes before the kill");
      await Promise.all(c.ids.map((id) => c.startMember(id)));
      const next = await c.leader();
      const { keys } = await c.call<{ keys: string[] }>(next, { cmd: "barrier" });
      const present = new Set(keys);
      const lost = acked.filter((i) => !present.has(`ack-${i}`));
      assert.deepEqual(
        lost,
        [],
        `round ${round}: ${acked.length} acknowledged, kill after ${waitMs} ms`,
      );
      // Writes are acknowledged in order: nothing beyond the last ack may be missing before it.
      const last = Math.max(...acked);
      for (let i = 0; i <= last; i++) assert.ok(present.has(`ack-${i}`), `ack-${i} present`);
    } finally {
      await c.close();
    }
  }
});
