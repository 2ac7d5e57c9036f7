// The loops on a manager write through Raft: their transactions become proposals applied later.
// Run the whole lifecycle that way (proposals applied only after each loop step, like commits
// arriving after the leader's step) and check the fleet converges just as with direct writes.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoreAction } from "../store/actions.ts";
import type { Store } from "../store/store.ts";
import type { ControlLoop } from "./loop.ts";
import { createLoops } from "./orchestrator.ts";
import { Harness } from "./testing/harness.ts";

/** Stands in for Raft: applies what the loops proposed, one entry per proposal, after them. */
class Commits implements ControlLoop {
  readonly name = "commits";
  readonly queue: StoreAction[][] = [];
  proposals = 0;
  rejected = 0;
  constructor(private readonly store: Store) {}
  get pendingEvents() {
    return this.queue.length;
  }
  step(): void {
    for (const actions of this.queue.splice(0)) {
      this.proposals++;
      if (!this.store.apply(actions, this.store.index + 1).ok) this.rejected++;
    }
  }
  nextDeadlineMs() {
    return undefined;
  }
  close() {}
}

test("through proposals, services converge: replicas, scale down, node loss", () => {
  let commits: Commits | undefined;
  const h = new Harness({
    seed: 7,
    nodes: 4,
    loops: (store, seed) => {
      commits = new Commits(store);
      const c = commits;
      return [...createLoops(store, { seed, propose: (a) => c.queue.push(a) }), c];
    },
  });
  h.createService("web", { mode: { replicated: { replicas: 6 } } });
  h.runUntil(() => h.running("web").length === 6, 10_000, "6 running");
  assert.ok(commits!.proposals > 0, "writes went through proposals");
  assert.equal(
    new Set(
      h
        .tasks("web")
        .filter((t) => t.desiredState <= 512)
        .map((t) => t.slot),
    ).size,
    6,
  );
  h.updateService("web", (s) => ({ ...s, mode: { replicated: { replicas: 2 } } }));
  h.runUntil(() => h.runnable("web").length === 2, 10_000, "scaled to 2");
  h.runFor(2_000);
  assert.equal(
    h.runnable("web").length,
    2,
    "no duplicate tasks from writes prepared on stale reads",
  );
});
