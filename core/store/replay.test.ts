import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { makeNode, makeService, makeTask } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { StoreAction } from "./actions.ts";
import {
  decodeActions,
  decodeSnapshot,
  encodeActions,
  encodeSnapshot,
  restoreSnapshot,
} from "./encoding.ts";
import { Store } from "./store.ts";

type Op =
  | { k: "node"; id: number; label: string }
  | { k: "svc"; id: number; name: number }
  | { k: "task"; id: number; svc: number; node: number }
  | { k: "move"; id: number; node: number; stale: boolean }
  | { k: "state"; id: number; state: number }
  | { k: "rm"; table: "nodes" | "tasks" | "services"; id: number };

const small = fc.nat(12);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant("node" as const),
    id: small,
    label: fc.constantFrom("ssd", "sd", "hdd"),
  }),
  fc.record({ k: fc.constant("svc" as const), id: small, name: fc.nat(4) }),
  fc.record({ k: fc.constant("task" as const), id: small, svc: small, node: small }),
  fc.record({ k: fc.constant("move" as const), id: small, node: small, stale: fc.boolean() }),
  fc.record({
    k: fc.constant("state" as const),
    id: small,
    state: fc.constantFrom(...Object.values(TaskState)),
  }),
  fc.record({
    k: fc.constant("rm" as const),
    table: fc.constantFrom("nodes", "tasks", "services"),
    id: small,
  }),
);

/** Turns an op into actions against `s` (possibly conflicting ones: stale versions, name clashes). */
function actionsFor(s: Store, o: Op): StoreAction[] | undefined {
  try {
    return s.prepare((tx) => {
      switch (o.k) {
        case "node":
          return tx.create("nodes", makeNode(`n${o.id}`, { labels: { storage: o.label } }));
        case "svc":
          return tx.create("services", makeService(`s${o.id}`, { name: `svc${o.name}` }));
        case "task":
          return tx.create(
            "tasks",
            makeTask(`t${o.id}`, `s${o.svc}`, { nodeId: `n${o.node}`, slot: o.id + 1 }),
          );
        case "move": {
          const t = tx.get("tasks", `t${o.id}`);
          if (t)
            tx.update("tasks", {
              ...t,
              nodeId: `n${o.node}`,
              version: o.stale ? t.version - 1 : t.version,
            });
          return;
        }
        case "state": {
          const t = tx.get("tasks", `t${o.id}`);
          if (t)
            tx.update("tasks", {
              ...t,
              status: { ...t.status, state: o.state as never, timestamp: o.id },
            });
          return;
        }
        case "rm":
          return tx.delete(o.table, `${o.table[0]}${o.id}`);
      }
    });
  } catch {
    return undefined;
  }
}

test("property: replaying the encoded action log reaches a byte-identical snapshot", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { maxLength: 60 }),
      (txs) => {
        const leader = new Store();
        const log: { index: number; bytes: Uint8Array }[] = [];
        let index = 0;
        for (const ops of txs) {
          // Several ops prepared against the same state and proposed together: later ones may
          // conflict with earlier ones, exactly like racing proposals in Raft.
          const prepared = ops.map((o) => actionsFor(leader, o)).filter((a) => a && a.length > 0);
          for (const actions of prepared) {
            index++;
            log.push({ index, bytes: encodeActions(actions!) });
            leader.apply(actions!, index);
          }
        }
        const follower = new Store();
        const verdicts: boolean[] = [];
        for (const entry of log) {
          const d = decodeActions(entry.bytes);
          assert.ok(d.ok);
          verdicts.push(follower.apply(d.actions, entry.index).ok);
        }
        const a = encodeSnapshot(leader);
        const b = encodeSnapshot(follower);
        assert.deepEqual(Buffer.from(b), Buffer.from(a));
        // A snapshot restores to the same bytes, and decodes back to the same index.
        const restored = new Store();
        assert.equal(restoreSnapshot(restored, a), undefined);
        assert.deepEqual(Buffer.from(encodeSnapshot(restored)), Buffer.from(a));
        assert.equal(restored.index, leader.index);
        // Replaying twice more gives the same verdicts: applying is deterministic.
        const again = new Store();
        const verdicts2 = log.map(
          (e) =>
            again.apply((decodeActions(e.bytes) as { actions: StoreAction[] }).actions, e.index).ok,
        );
        assert.deepEqual(verdicts2, verdicts);
      },
    ),
    { numRuns: 300 },
  );
});

test("property: corrupt snapshots and action entries are refused, never thrown", () => {
  const s = new Store();
  s.update((tx) => {
    tx.create("nodes", makeNode("n1"));
    tx.create("tasks", makeTask("t1", "s1"));
  });
  const snap = encodeSnapshot(s);
  const entry = encodeActions(s.prepare((tx) => tx.create("nodes", makeNode("n2"))));
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (pos, val, which) => {
      const bytes = new Uint8Array(which ? snap : entry);
      bytes[pos % bytes.length] = val;
      const r = which ? decodeSnapshot(bytes) : decodeActions(bytes);
      if (r.ok && which) {
        const target = new Store();
        assert.equal(restoreSnapshot(target, bytes), undefined);
      }
    }),
    { numRuns: 3000 },
  );
  const wrong = decodeSnapshot(encodeActions([]));
  assert.ok(!wrong.ok && wrong.error.code === "wrong_type");
});
