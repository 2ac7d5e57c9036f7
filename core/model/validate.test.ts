import assert from "node:assert/strict";
import { test } from "node:test";
import { closest, editDistance } from "./check.ts";
import { defaultClusterSpec, defaultRestartPolicy, defaultUpdateConfig } from "./defaults.ts";
import {
  formatProblems,
  validateClusterSpec,
  validateNodeSpec,
  validateServiceSpec,
} from "./validate.ts";

const minimal = { name: "web", taskTemplate: { containerSpec: { image: "nginx:1.27" } } };

test("a minimal service spec gets swarm's defaults", () => {
  const r = validateServiceSpec(minimal);
  assert.ok(r.ok, r.ok ? "" : formatProblems(r.problems));
  const s = r.value;
  assert.deepEqual(s.mode, { replicated: { replicas: 1 } });
  assert.deepEqual(s.taskTemplate.restartPolicy, defaultRestartPolicy);
  assert.deepEqual(s.updateConfig, defaultUpdateConfig);
  assert.deepEqual(s.rollbackConfig, defaultUpdateConfig);
  assert.equal(s.taskTemplate.containerSpec.stopGracePeriodMs, 10_000);
  assert.deepEqual(s.taskTemplate.placement.constraints, []);
  assert.deepEqual(s.endpointSpec, { ports: [] });
});

test("every problem is reported at once, each with its path", () => {
  const r = validateServiceSpec({
    name: "-bad name",
    mode: { replicated: { replicas: -2 } },
    taskTemplate: {
      containerSpec: { image: "", env: ["NOEQUALS"], mounts: [{ type: "bind", target: "rel" }] },
      resources: { limits: { memoryBytes: 0 }, reservations: { nanoCPUs: 2e9 } },
      restartPolicy: { condition: "sometimes" },
      placement: { constraints: [" "], preferences: [{}] },
    },
    updateConfig: { maxFailureRatio: 2, order: "random" },
    endpointSpec: { ports: [{ targetPort: 80 }, { targetPort: 81, publishedPort: 80 }] },
  });
  assert.equal(r.ok, false);
  const got = r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.reason}`);
  const expected = [
    "name: must start with a letter or digit and contain only [A-Za-z0-9_.-]",
    "mode.replicated.replicas: must be a non-negative integer",
    "taskTemplate.containerSpec.image: must not be empty",
    "taskTemplate.containerSpec.env[0]: must look like NAME=value",
    "taskTemplate.containerSpec.mounts[0].target: must be an absolute path",
    "taskTemplate.containerSpec.mounts[0].source: is required for a bind mount",
    "taskTemplate.resources.limits.memoryBytes: must be a positive integer",
    "taskTemplate.restartPolicy.condition: must be one of none, on-failure, any",
    "taskTemplate.placement.constraints[0]: must not be empty",
    "taskTemplate.placement.preferences[0].spread: is required",
    "updateConfig.maxFailureRatio: must be a number from 0 to 1",
    "updateConfig.order: must be one of stop-first, start-first",
    "endpointSpec.ports[1].publishedPort: tcp/80 is published twice",
  ];
  assert.deepEqual([...got].sort(), [...expected].sort());
});

test("constraints are parsed at validation time, with column and fix", () => {
  const r = validateServiceSpec({
    ...minimal,
    taskTemplate: {
      containerSpec: { image: "x" },
      placement: {
        constraints: ["node.labels.storage=ssd", "hw.storage==ssd", "node.lables.x==1"],
      },
    },
  });
  assert.equal(r.ok, false);
  const problems = r.ok ? [] : r.problems;
  assert.equal(problems.length, 2, formatProblems(problems));
  assert.equal(problems[0]!.path, "taskTemplate.placement.constraints[0]");
  assert.match(problems[0]!.reason, /column \d+: .*did you mean `node\.labels\.storage==ssd`/);
  assert.equal(problems[1]!.path, "taskTemplate.placement.constraints[2]");
});

test("reservations above limits are refused", () => {
  const r = validateServiceSpec({
    ...minimal,
    taskTemplate: {
      containerSpec: { image: "x" },
      resources: { reservations: { memoryBytes: 2048 }, limits: { memoryBytes: 1024 } },
    },
  });
  assert.equal(r.ok, false);
  assert.match(
    formatProblems(r.ok ? [] : r.problems),
    /reservations\.memoryBytes: must not exceed/,
  );
});

test("unknown fields are named with a suggestion", () => {
  const r = validateServiceSpec({ ...minimal, updateConfg: {}, labels: { ok: "1" } });
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.problems, [
    { path: "updateConfg", reason: 'unknown field (did you mean "updateConfig"?)' },
  ]);
});

test("type confusion from untrusted JSON never throws", () => {
  const junk: unknown[] = [
    null,
    3,
    "x",
    [],
    { name: 5 },
    { name: "a", mode: [] },
    { name: "a", taskTemplate: [] },
    { name: "a", taskTemplate: { containerSpec: { image: "a", mounts: "x", env: [1] } } },
    { name: "a", mode: { replicated: {}, global: {} } },
    { name: "a", labels: { "": "x" } },
    { name: "a", labels: { k: 1 } },
    { name: "a", endpointSpec: { ports: [null] } },
  ];
  for (const j of junk) {
    const r = validateServiceSpec(j);
    assert.equal(r.ok, false, JSON.stringify(j));
    assert.ok(!r.ok && r.problems.length > 0);
  }
});

test("every mode parses", () => {
  const modeOf = (mode: unknown) => {
    const r = validateServiceSpec({ ...minimal, mode });
    assert.ok(r.ok, r.ok ? "" : formatProblems(r.problems));
    return r.value.mode;
  };
  assert.deepEqual(modeOf({ replicated: { replicas: 0 } }), { replicated: { replicas: 0 } });
  assert.deepEqual(modeOf({ global: {} }), { global: {} });
  assert.deepEqual(modeOf({ globalJob: {} }), { globalJob: {} });
  assert.deepEqual(modeOf({ replicatedJob: { totalCompletions: 10 } }), {
    replicatedJob: { totalCompletions: 10, maxConcurrent: 10 },
  });
});

test("node and cluster specs", () => {
  const n = validateNodeSpec({ availability: "drain", labels: { storage: "ssd" } });
  assert.ok(n.ok);
  assert.deepEqual(n.value, { role: "worker", availability: "drain", labels: { storage: "ssd" } });
  const bad = validateNodeSpec({ availability: "off", role: "boss" });
  assert.equal(bad.ok, false);
  assert.equal(bad.ok ? 0 : bad.problems.length, 2);
  const c = validateClusterSpec({ heartbeatPeriodMs: 2000 });
  assert.ok(c.ok);
  assert.deepEqual(c.value, { ...defaultClusterSpec, heartbeatPeriodMs: 2000 });
  const cb = validateClusterSpec({ heartbeatPeriodMs: 5, taskHistoryLimit: -1 });
  assert.equal(cb.ok ? 0 : cb.problems.length, 2);
});

test("suggestions use edit distance", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(closest("replcas", ["replicas", "mode"]), "replicas");
  assert.equal(closest("zzzzzz", ["replicas", "mode"]), undefined);
});
