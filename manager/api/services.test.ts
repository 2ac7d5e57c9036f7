import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { ApiServer } from "./server.ts";
import { call, testWorld } from "./testing.ts";

const spec = (name: string, replicas = 2) => ({
  name,
  mode: { replicated: { replicas } },
  taskTemplate: { containerSpec: { image: "busybox" } },
});

function setup() {
  const w = testWorld();
  return { ...w, api: new ApiServer(w.ctx) };
}

test("service create answers 201 with the id; the spec is stored with defaults", async () => {
  const { api, store } = setup();
  const r = await call(api, "POST", "/v1/services/create", spec("web"));
  assert.equal(r.status, 201);
  assert.match(r.body.id, /^[a-z2-7]{25}$/);
  const s = store.view((tx) => tx.get("services", r.body.id))!;
  assert.equal(s.spec.name, "web");
  assert.equal(s.specVersion, 1);
  assert.equal(s.spec.updateConfig.parallelism, 1);
  assert.equal(s.createdAt, 1_700_000_000_000);
});

test("service create: every problem at once, with did-you-mean for unknown fields", async () => {
  const { api } = setup();
  const r = await call(api, "POST", "/v1/services/create", {
    name: "bad name",
    mode: { replicated: { replicas: -1 } },
    taskTemplat: {},
    taskTemplate: {
      containerSpec: { image: "busybox" },
      placement: { constraints: ["node.labels.storage=ssd"] },
    },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_spec");
  const paths = r.body.error.problems.map((p: { path: string }) => p.path);
  assert.deepEqual(paths.sort(), [
    "mode.replicated.replicas",
    "name",
    "taskTemplat",
    "taskTemplate.placement.constraints[0]",
  ]);
  const typo = r.body.error.problems.find((p: { path: string }) => p.path === "taskTemplat");
  assert.match(typo.reason, /did you mean "taskTemplate"/);
});

test("service create: a clashing name is 409 name_conflict", async () => {
  const { api } = setup();
  assert.equal((await call(api, "POST", "/v1/services/create", spec("web"))).status, 201);
  const r = await call(api, "POST", "/v1/services/create", spec("WEB"));
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, "name_conflict");
});

test("service ls counts running and desired tasks; inspect by name and prefix", async () => {
  const { api, store } = setup();
  const id = (await call(api, "POST", "/v1/services/create", spec("web", 3))).body.id as string;
  await call(api, "POST", "/v1/services/create", {
    ...spec("agent"),
    mode: { global: {} },
  });
  store.update((tx) => {
    const running = { state: TaskState.RUNNING, timestamp: 1, message: "started" };
    tx.create("tasks", makeTask("t1", id, { slot: 1, nodeId: "w1", status: running }));
    tx.create("tasks", makeTask("t2", id, { slot: 2, nodeId: "w2", status: running }));
    tx.create("tasks", makeTask("t3", id, { slot: 3 }));
    const old = { desiredState: TaskState.SHUTDOWN, slot: 1, nodeId: "w1", status: running };
    tx.create("tasks", makeTask("t0", id, old));
  });
  const ls = await call(api, "GET", "/v1/services");
  assert.deepEqual(
    ls.body.map((s: { spec: { name: string } }) => s.spec.name),
    ["agent", "web"],
  );
  assert.deepEqual(ls.body[1].serviceStatus, { runningTasks: 2, desiredTasks: 3 });
  assert.deepEqual(ls.body[0].serviceStatus, { runningTasks: 0, desiredTasks: 0 });
  assert.equal((await call(api, "GET", "/v1/services/web")).body.id, id);
  assert.equal((await call(api, "GET", `/v1/services/${id.slice(0, 6)}`)).body.id, id);
  const global = await call(api, "GET", "/v1/services?mode=global");
  assert.equal(global.body.length, 1);
  assert.equal((await call(api, "GET", "/v1/services?mode=swarm")).status, 400);
  assert.equal((await call(api, "GET", "/v1/services/nope")).status, 404);
});

test("service update keeps previousSpec, bumps specVersion; stale version is 409", async () => {
  const { api, store } = setup();
  const id = (await call(api, "POST", "/v1/services/create", spec("web"))).body.id;
  const s = (await call(api, "GET", "/v1/services/web")).body;
  const next = { ...s.spec, mode: { replicated: { replicas: 5 } } };
  const r = await call(api, "POST", `/v1/services/web/update?version=${s.version}`, next);
  assert.equal(r.status, 200);
  const after = store.view((tx) => tx.get("services", id))!;
  assert.equal(after.specVersion, 2);
  assert.deepEqual(after.spec.mode, { replicated: { replicas: 5 } });
  assert.deepEqual(after.previousSpec?.mode, { replicated: { replicas: 2 } });
  const stale = await call(api, "POST", `/v1/services/web/update?version=${s.version}`, next);
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, "out_of_sequence");
  const bad = await call(api, "POST", `/v1/services/web/update?version=${after.version}`, {
    ...next,
    name: "",
  });
  assert.equal(bad.status, 400);
});

test("service update --force bumps the forceUpdate counter", async () => {
  const { api, store } = setup();
  const id = (await call(api, "POST", "/v1/services/create", spec("web"))).body.id;
  for (const want of [1, 2]) {
    const s = (await call(api, "GET", `/v1/services/${id}`)).body;
    const r = await call(
      api,
      "POST",
      `/v1/services/${id}/update?version=${s.version}&force=true`,
      s.spec,
    );
    assert.equal(r.status, 200);
    assert.equal(store.view((tx) => tx.get("services", id))!.spec.taskTemplate.forceUpdate, want);
  }
});

test("service rollback returns to previousSpec and marks the rollback started", async () => {
  const { api, store } = setup();
  const id = (await call(api, "POST", "/v1/services/create", spec("web"))).body.id;
  const none = await call(api, "POST", "/v1/services/web/rollback");
  assert.equal(none.status, 409);
  assert.match(none.body.error.message, /no previous spec/);
  const s = (await call(api, "GET", "/v1/services/web")).body;
  const next = { ...s.spec, taskTemplate: { containerSpec: { image: "nginx" } } };
  await call(api, "POST", `/v1/services/web/update?version=${s.version}`, next);
  const r = await call(api, "POST", "/v1/services/web/rollback");
  assert.equal(r.status, 200);
  const after = store.view((tx) => tx.get("services", id))!;
  assert.equal(after.spec.taskTemplate.containerSpec.image, "busybox");
  assert.equal(after.previousSpec?.taskTemplate.containerSpec.image, "nginx");
  assert.equal(after.specVersion, 3);
  assert.equal(after.updateStatus?.state, "rollback_started");
  const stale = await call(api, "POST", `/v1/services/web/rollback?version=${s.version}`);
  assert.equal(stale.status, 409);
});

test("service rm removes it; a second rm is 404; logs answer 501 with a reason", async () => {
  const { api } = setup();
  await call(api, "POST", "/v1/services/create", spec("web"));
  const logs = await call(api, "GET", "/v1/services/web/logs?follow=true");
  assert.equal(logs.status, 501);
  assert.match(logs.body.error.message, /without a broker to reach the agents/);
  assert.equal((await call(api, "DELETE", "/v1/services/web")).status, 200);
  assert.equal((await call(api, "DELETE", "/v1/services/web")).status, 404);
  assert.equal((await call(api, "GET", "/v1/services/web/logs")).status, 404);
});
