// A leader change drops every loop's memory; the new leader's loops start from the store alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultUpdateConfig } from "../model/defaults.ts";
import { makeTemplate } from "../model/fixtures.ts";
import { TaskState } from "../model/task-state.ts";
import type { ServiceSpec } from "../model/types.ts";
import { Harness } from "./testing/harness.ts";

const image =
  (img: string) =>
  (s: ServiceSpec): ServiceSpec => ({
    ...s,
    taskTemplate: {
      ...s.taskTemplate,
      containerSpec: { ...s.taskTemplate.containerSpec, image: img },
    },
  });

test("a rolling update interrupted by a leader change completes under the new leader", () => {
  const h = new Harness({ seed: 91 });
  const updateConfig = { ...defaultUpdateConfig, parallelism: 1, monitorMs: 500 };
  h.createService("web", { mode: { replicated: { replicas: 4 } }, updateConfig });
  h.runUntil(() => h.running("web").length === 4, 5_000);
  h.updateService("web", image("v2"));
  h.runFor(300); // first batch in flight: its new task held at READY or starting
  h.failover();
  h.runUntil(() => h.service("web").updateStatus?.state === "completed", 30_000);
  assert.ok(h.running("web").every((t) => t.spec.containerSpec.image === "v2"));
  assert.equal(h.running("web").length, 4);
});

test("a paused update stays paused, and a given-up slot stays given up, after a leader change", () => {
  const h = new Harness({ seed: 92, faults: { badImages: new Set(["bad"]) } });
  h.createService("web", {
    mode: { replicated: { replicas: 3 } },
    updateConfig: { ...defaultUpdateConfig, parallelism: 1, monitorMs: 500 },
  });
  h.createService("once", {
    mode: { replicated: { replicas: 1 } },
    taskTemplate: makeTemplate({
      containerSpec: { image: "bad" },
      restartPolicy: { condition: "none" },
    }),
  });
  h.runUntil(() => h.running("web").length === 3, 5_000);
  h.updateService("web", image("bad"));
  h.runUntil(() => h.service("web").updateStatus?.state === "paused", 10_000);
  const before = h.tasks("web").length;
  h.failover();
  h.runFor(10_000);
  assert.equal(h.service("web").updateStatus?.state, "paused");
  assert.equal(
    h.tasks("web").filter((t) => t.spec.containerSpec.image === "bad").length >= 1,
    true,
  );
  assert.equal(h.runnable("web").filter((t) => t.spec.containerSpec.image === "busybox").length, 2);
  assert.ok(h.tasks("web").length <= before + 5, "no update churn");
  const once = h.tasks("once");
  assert.equal(once.length, 1);
  assert.equal(once[0]!.desiredState, TaskState.COMPLETE);
});

test("a lost node's grace starts again under a new leader, then its tasks move", () => {
  const h = new Harness({ seed: 93 });
  h.createService("web", {
    mode: { replicated: { replicas: 3 } },
    labels: { "fleet.disconnect-grace": "10s" },
  });
  h.runUntil(() => h.running("web").length === 3, 5_000);
  h.setNodeState("n1", "down");
  h.runFor(8_000);
  h.failover();
  h.runFor(8_000);
  assert.ok(
    h.runnable("web").some((t) => t.nodeId === "n1"),
    "grace restarted at the failover",
  );
  h.runFor(3_000);
  assert.ok(!h.runnable("web").some((t) => t.nodeId === "n1"));
  h.runUntil(() => h.running("web").length === 3, 5_000);
});

test("a new leader counts the grace from the dispatcher's last heartbeat when it has one", () => {
  const h = new Harness({ seed: 94 });
  h.createService("web", {
    mode: { replicated: { replicas: 3 } },
    labels: { "fleet.disconnect-grace": "60s" },
  });
  h.runUntil(() => h.running("web").length === 3, 5_000);
  // The dispatcher heard from n1 last 40 s ago and marked it down after 3 missed heartbeats.
  const lastSeen = h.nowMs;
  h.runFor(15_000);
  h.setNode("n1", (n) => ({ ...n, status: { state: "down", lastSeen } }));
  h.runFor(25_000);
  h.failover();
  // Lost at lastSeen + 15 s: the 60 s grace ends 75 s after lastSeen, 35 s from now.
  h.runFor(33_000);
  assert.ok(
    h.runnable("web").some((t) => t.nodeId === "n1"),
    "still within the grace",
  );
  h.runFor(3_000);
  assert.ok(!h.runnable("web").some((t) => t.nodeId === "n1"), "not a fresh 60 s");
});

test("restart attempts already in the task history still count under a new leader", () => {
  const h = new Harness({ seed: 95, faults: { badImages: new Set(["bad"]) } });
  h.createService("web", {
    mode: { replicated: { replicas: 1 } },
    taskTemplate: makeTemplate({
      containerSpec: { image: "bad" },
      restartPolicy: { condition: "any", delayMs: 1_000, maxAttempts: 3, windowMs: 0 },
    }),
  });
  h.runUntil(() => h.tasks("web").length === 3, 10_000, "two restarts");
  h.failover();
  h.runFor(20_000);
  assert.equal(h.tasks("web").length, 4, "one more restart, not three");
  assert.equal(h.runnable("web").length, 0);
  assert.equal(h.tasks("web").filter((t) => t.desiredState === TaskState.COMPLETE).length, 1);
});
