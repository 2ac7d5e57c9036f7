// The converge display against the real control loops (core/orchestrator) and simulated agents
// stepping on a timer: the explanation shown is the scheduler's own, the pause is the update
// loop's own.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Orchestrator } from "../../core/orchestrator/index.ts";
import { SimAgents } from "../../core/orchestrator/testing/agents.ts";
import { createRng } from "../../core/rand.ts";
import { fleet, startApi } from "./testing.ts";

test("converge with the real orchestrator: converged, unplaceable, failed update", async () => {
  const s = await startApi();
  const orch = new Orchestrator(s.store, { seed: 7 });
  const agents = new SimAgents(s.store, createRng(8), { badImages: new Set(["broken"]) });
  const timer = setInterval(() => {
    const now = Date.now();
    agents.step(now);
    orch.step(now);
  }, 50);
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    const web = await run("service", "create", "--name", "web", "--replicas", "2", "busybox");
    assert.equal(web.code, 0, web.stderr);
    assert.match(web.stdout, /2\/2: running[\s\S]*verify: Service web converged/);
    const [nvme, broken, global] = await Promise.all([
      run(
        "service",
        "create",
        "--name",
        "fast",
        "--timeout",
        "4s",
        "--constraint",
        "node.labels.storage==nvme",
        "busybox",
      ),
      run("service", "update", "--image", "broken", "--timeout", "60s", "web"),
      run("service", "create", "--name", "agent", "--mode", "global", "busybox"),
    ]);
    assert.equal(nvme.code, 1);
    assert.match(nvme.stdout, /1\/1: pending .*: no suitable node \(/);
    assert.match(nvme.stderr, /did not converge within 4s: task 1 pending: no suitable node \(/);
    assert.match(nvme.stderr, /constraint node\.labels\.storage==nvme not satisfied on 3 nodes/);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /service web did not converge: update paused due to failure/);
    assert.match(broken.stderr, /\(task \d failed: /);
    assert.equal(global.code, 0, global.stderr);
    assert.match(global.stdout, /overall progress: 3 out of 3 tasks/);
    assert.match(global.stdout, /verify: Service agent converged/);
  } finally {
    clearInterval(timer);
    await s.stop();
  }
});
