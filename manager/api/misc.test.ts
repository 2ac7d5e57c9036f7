import assert from "node:assert/strict";
import { test } from "node:test";
import { FleetError } from "../../core/errors.ts";
import { makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { ApiServer } from "./server.ts";
import { call, testWorld } from "./testing.ts";
import { DevTokenSource } from "./tokens.ts";

function withTasks() {
  const w = testWorld();
  w.store.update((tx) => {
    tx.create("services", makeService("s1", { name: "web" }));
    tx.create("services", makeService("s2", { name: "db" }));
    tx.create("tasks", makeTask("t1", "s1", { slot: 1, nodeId: "w1" }));
    tx.create("tasks", makeTask("t2", "s1", { slot: 2, nodeId: "w2" }));
    const down = { desiredState: TaskState.SHUTDOWN, nodeId: "w1" };
    tx.create("tasks", makeTask("t3", "s1", { slot: 1, ...down }));
    tx.create("tasks", makeTask("u1", "s2", { slot: 1, nodeId: "w2" }));
  });
  return { ...w, api: new ApiServer(w.ctx, { tokens: new DevTokenSource("c1") }) };
}

const ids = (body: { id: string }[]) => body.map((t) => t.id);

test("task ls filters by service, node and desired state; inspect by prefix", async () => {
  const { api } = withTasks();
  assert.deepEqual(ids((await call(api, "GET", "/v1/tasks")).body).sort(), [
    "t1",
    "t2",
    "t3",
    "u1",
  ]);
  assert.deepEqual(ids((await call(api, "GET", "/v1/tasks?service=web")).body).sort(), [
    "t1",
    "t2",
    "t3",
  ]);
  const running = await call(api, "GET", "/v1/tasks?service=web&desired-state=running");
  assert.deepEqual(ids(running.body).sort(), ["t1", "t2"]);
  const onW2 = await call(api, "GET", "/v1/tasks?node=worker-2");
  assert.deepEqual(ids(onW2.body).sort(), ["t2", "u1"]);
  const both = await call(api, "GET", "/v1/tasks?service=web&node=w2");
  assert.deepEqual(ids(both.body), ["t2"]);
  const t = await call(api, "GET", "/v1/tasks/u");
  assert.equal(t.body.id, "u1");
  assert.equal(t.body.stateName, "new");
  assert.equal(t.body.desiredStateName, "running");
  const amb = await call(api, "GET", "/v1/tasks/t");
  assert.equal(amb.body.error.code, "ambiguous");
  const bad = await call(api, "GET", "/v1/tasks?desired-state=sleeping");
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /unknown state "sleeping"/);
  assert.equal((await call(api, "GET", "/v1/tasks?service=nope")).status, 404);
});

test("cluster inspect hides secrets; update checks version and spec", async () => {
  const { api, store } = withTasks();
  store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const rootCA = { certPem: "CERT", keyPem: "SECRET", keyEncrypted: false, digest: "d" };
    tx.update("clusters", { ...c, rootCA, joinTokens: { worker: "h1", manager: "h2" } });
  });
  const c = (await call(api, "GET", "/v1/cluster")).body;
  assert.equal(c.rootCA.certPem, "CERT");
  assert.equal(JSON.stringify(c).includes("SECRET"), false);
  assert.equal(c.joinTokens, undefined);
  const next = { ...c.spec, heartbeatPeriodMs: 2000 };
  const r = await call(api, "POST", `/v1/cluster/update?version=${c.version}`, next);
  assert.equal(r.status, 200);
  assert.equal(store.view((tx) => tx.get("clusters", "c1"))!.spec.heartbeatPeriodMs, 2000);
  assert.equal(store.view((tx) => tx.get("clusters", "c1"))!.rootCA?.keyPem, "SECRET");
  const stale = await call(api, "POST", `/v1/cluster/update?version=${c.version}`, next);
  assert.equal(stale.status, 409);
  const bad = await call(api, "POST", "/v1/cluster/update?version=99", { heartbeatPeriodMs: 1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.problems[0].path, "heartbeatPeriodMs");
});

test("no cluster object yet: 404 that says why", async () => {
  const w = testWorld({ cluster: false });
  const r = await call(new ApiServer(w.ctx), "GET", "/v1/cluster");
  assert.equal(r.status, 404);
  assert.match(r.body.error.message, /no cluster object yet/);
});

test("join tokens: current, rotate one role, 501 without a token source", async () => {
  const { api, ctx } = withTasks();
  const t = (await call(api, "GET", "/v1/join-tokens")).body;
  assert.match(t.worker, /^FLT1-[0-9a-f]{50}-[a-z2-7]{25}$/);
  const r = (await call(api, "POST", "/v1/join-tokens/rotate?role=worker")).body;
  assert.notEqual(r.worker, t.worker);
  assert.equal(r.manager, t.manager);
  const bad = await call(api, "POST", "/v1/join-tokens/rotate?role=admin");
  assert.equal(bad.status, 400);
  const none = await call(new ApiServer(ctx), "GET", "/v1/join-tokens");
  assert.equal(none.status, 501);
});

test("info names this manager and the leader", async () => {
  const { api } = withTasks();
  const i = (await call(api, "GET", "/v1/info")).body;
  assert.deepEqual(
    { nodeId: i.nodeId, clusterId: i.clusterId, isLeader: i.isLeader, leader: i.leader },
    { nodeId: "m1", clusterId: "c1", isLeader: true, leader: 1 },
  );
});

test("router: unknown paths, versions, methods and query parameters; bad JSON", async () => {
  const { api } = withTasks();
  const cases: [string, string, unknown, number, RegExp][] = [
    ["GET", "/v1/nodez", undefined, 404, /no such endpoint/],
    ["GET", "/v2/nodes", undefined, 404, /start with \/v1\//],
    ["GET", "/nodes", undefined, 404, /start with \/v1\//],
    ["PUT", "/v1/nodes", undefined, 405, /PUT is not allowed.*GET/],
    ["GET", "/v1/nodes?rol=worker", undefined, 400, /unknown query parameter "rol".*"role"/],
    ["POST", "/v1/services/create", "{nope", 400, /not valid JSON/],
    ["POST", "/v1/services/create", undefined, 400, /JSON body is required/],
    ["POST", "/v1/services/create", "[1,2]", 400, /must be an object/],
    ["POST", "/v1/services/create", "null", 400, /service spec is required|must be an object/],
    ["GET", "/v1/services/%E0%A4%A", undefined, 404, /no such endpoint/],
    ["GET", "/v1/nodes?version=x", undefined, 400, /unknown query parameter/],
    ["DELETE", "/v1/nodes/w1?force=maybe", undefined, 400, /expected true or false/],
    ["POST", "/v1/nodes/w1/update?version=-1", "{}", 400, /integer >= 0/],
  ];
  for (const [method, url, body, status, re] of cases) {
    const r = await call(api, method, url, body);
    assert.equal(r.status, status, `${method} ${url}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, re, `${method} ${url}`);
  }
});

test("no leader: a retryable write is 503; consistent reads wait for ReadIndex", async () => {
  let readIndex = 0;
  const w = testWorld({
    consensus: {
      isLeader: () => false,
      leader: () => 0,
      term: () => 3,
      linearizable: async () => {
        readIndex++;
        throw new FleetError("raft", "no_leader", "no leader is known", true);
      },
    },
  });
  w.ctx.writer.update = async () => {
    throw new FleetError("raft", "no_leader", "no leader is known", true);
  };
  const api = new ApiServer(w.ctx);
  const write = await call(api, "POST", "/v1/services/create", {
    name: "web",
    taskTemplate: { containerSpec: { image: "busybox" } },
  });
  assert.equal(write.status, 503);
  assert.equal(write.body.error.code, "no_leader");
  assert.equal((await call(api, "GET", "/v1/nodes")).status, 200);
  const consistent = await call(api, "GET", "/v1/nodes?consistent=true");
  assert.equal(consistent.status, 503);
  assert.equal(readIndex, 1);
});

test("a bug below the API answers 500 and is logged, never crashes", async () => {
  const w = testWorld();
  w.ctx.writer.update = async () => {
    throw new TypeError("boom");
  };
  const api = new ApiServer(w.ctx);
  const r = await call(api, "DELETE", "/v1/services/x");
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, "internal");
  assert.ok(w.logged.some((l) => l.includes("boom")));
});
