import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiServer } from "./server.ts";
import { call, managerNode, testWorld, workerNode } from "./testing.ts";

function setup() {
  const w = testWorld();
  return { ...w, api: new ApiServer(w.ctx) };
}

test("node ls lists every node sorted by hostname, with filters", async () => {
  const { api } = setup();
  const all = await call(api, "GET", "/v1/nodes");
  assert.equal(all.status, 200);
  assert.deepEqual(
    all.body.map((n: { description: { hostname: string } }) => n.description.hostname),
    ["manager-1", "worker-1", "worker-2"],
  );
  const workers = await call(api, "GET", "/v1/nodes?role=worker");
  assert.equal(workers.body.length, 2);
  const ssd = await call(api, "GET", "/v1/nodes?label=storage=ssd");
  assert.deepEqual(
    ssd.body.map((n: { id: string }) => n.id),
    ["w1"],
  );
  const named = await call(api, "GET", "/v1/nodes?name=worker&role=worker&label=storage");
  assert.equal(named.body.length, 1);
  const bad = await call(api, "GET", "/v1/nodes?role=boss");
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /worker or manager/);
});

test("node inspect by id, hostname and unique prefix; unknown and ambiguous refs", async () => {
  const { api } = setup();
  assert.equal((await call(api, "GET", "/v1/nodes/w1")).body.id, "w1");
  assert.equal((await call(api, "GET", "/v1/nodes/worker-2")).body.id, "w2");
  assert.equal((await call(api, "GET", "/v1/nodes/m")).body.id, "m1");
  const amb = await call(api, "GET", "/v1/nodes/w");
  assert.equal(amb.status, 400);
  assert.equal(amb.body.error.code, "ambiguous");
  assert.match(amb.body.error.message, /2 matches/);
  const none = await call(api, "GET", "/v1/nodes/zzz");
  assert.equal(none.status, 404);
  assert.match(none.body.error.message, /no such node: zzz.*fleet node ls/);
});

test("node update writes the spec at the version read, and refuses a stale version", async () => {
  const { api, store } = setup();
  const n = (await call(api, "GET", "/v1/nodes/w2")).body;
  const spec = { ...n.spec, availability: "drain", labels: { zone: "a" } };
  const r = await call(api, "POST", `/v1/nodes/w2/update?version=${n.version}`, spec);
  assert.equal(r.status, 200);
  const after = store.view((tx) => tx.get("nodes", "w2"))!;
  assert.equal(after.spec.availability, "drain");
  assert.deepEqual(after.spec.labels, { zone: "a" });
  const stale = await call(api, "POST", `/v1/nodes/w2/update?version=${n.version}`, spec);
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, "out_of_sequence");
  assert.match(stale.body.error.message, /update out of sequence/);
});

test("node update: missing version, invalid spec with every problem, last manager", async () => {
  const { api } = setup();
  const noVersion = await call(api, "POST", "/v1/nodes/w1/update", { role: "worker" });
  assert.equal(noVersion.status, 400);
  assert.match(noVersion.body.error.message, /version is required/);
  const n = (await call(api, "GET", "/v1/nodes/w1")).body;
  const bad = await call(api, "POST", `/v1/nodes/w1/update?version=${n.version}`, {
    role: "boss",
    availabilty: "drain",
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_spec");
  assert.deepEqual(bad.body.error.problems, [
    { path: "availabilty", reason: 'unknown field (did you mean "availability"?)' },
    { path: "role", reason: "must be one of worker, manager" },
  ]);
  const m = (await call(api, "GET", "/v1/nodes/m1")).body;
  const demote = await call(api, "POST", `/v1/nodes/m1/update?version=${m.version}`, {
    ...m.spec,
    role: "worker",
  });
  assert.equal(demote.status, 409);
  assert.match(demote.body.error.message, /last manager/);
});

test("node rm refuses a ready node without force and a manager always", async () => {
  const { api, store } = setup();
  const up = await call(api, "DELETE", "/v1/nodes/w1");
  assert.equal(up.status, 409);
  assert.match(up.body.error.message, /not down.*--force/);
  assert.equal((await call(api, "DELETE", "/v1/nodes/w1?force=true")).status, 200);
  assert.equal(
    store.view((tx) => tx.get("nodes", "w1")),
    undefined,
  );
  const mgr = await call(api, "DELETE", "/v1/nodes/m1?force=1");
  assert.equal(mgr.status, 409);
  assert.match(mgr.body.error.message, /demote it first/);
  store.update((tx) => {
    const w2 = tx.get("nodes", "w2")!;
    tx.update("nodes", { ...w2, status: { state: "down" } });
  });
  assert.equal((await call(api, "DELETE", "/v1/nodes/worker-2")).status, 200);
  assert.equal((await call(api, "DELETE", "/v1/nodes/worker-2")).status, 404);
});

test("two managers: one may be demoted", async () => {
  const w = testWorld({
    nodes: [managerNode("m1", "a"), managerNode("m2", "b"), workerNode("w1", "c")],
  });
  const api = new ApiServer(w.ctx);
  const m = (await call(api, "GET", "/v1/nodes/m2")).body;
  const r = await call(api, "POST", `/v1/nodes/m2/update?version=${m.version}`, {
    ...m.spec,
    role: "worker",
  });
  assert.equal(r.status, 200);
});

test("node demote: refused when the other managers would lack a quorum of reachable ones", async () => {
  const { api, store } = setup();
  const add = (id: string, raftId: string, reachability: "reachable" | "unreachable") =>
    store.update((tx) => {
      const n = managerNode(id, `manager-${id}`);
      tx.create("nodes", { ...n, managerStatus: { ...n.managerStatus!, raftId, reachability } });
    });
  add("m2", "2", "reachable");
  add("m3", "3", "unreachable");
  const demote = async (ref: string) => {
    const m = (await call(api, "GET", `/v1/nodes/${ref}`)).body;
    return call(api, "POST", `/v1/nodes/${ref}/update?version=${m.version}`, {
      ...m.spec,
      role: "worker",
    });
  };
  // m1 and m2 reachable, m3 down: demoting m2 leaves m1 alone of {m1, m3}.
  const refused = await demote("m2");
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, /1 of 2 managers reachable, not a quorum/);
  assert.equal(store.view((tx) => tx.get("nodes", "m2"))!.spec.role, "manager");
  // Demoting the unreachable one leaves {m1, m2}, both reachable.
  assert.equal((await demote("m3")).status, 200);
  assert.equal(store.view((tx) => tx.get("nodes", "m3"))!.spec.role, "worker");
});

test("node promote of an edge agent is refused with what to do; a member's demotion can be undone", async () => {
  const w = testWorld({ nodes: [managerNode("m1", "a"), workerNode("w1", "edge-1")] });
  const api = new ApiServer(w.ctx);
  const setRole = async (ref: string, role: string) => {
    const n = (await call(api, "GET", `/v1/nodes/${ref}`)).body;
    return call(api, "POST", `/v1/nodes/${ref}/update?version=${n.version}`, { ...n.spec, role });
  };
  const r = await setRole("w1", "manager");
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, "failed_precondition");
  assert.match(r.body.error.message, /edge-1 \(w1\) runs no manager daemon/);
  assert.match(r.body.error.message, /fleet join --token <manager token>/);
  assert.equal(w.store.view((tx) => tx.get("nodes", "w1"))!.spec.role, "worker");
  // A demoted manager still in the Raft group (managerStatus) may be promoted back.
  await w.store.update((tx) => {
    const n = managerNode("m2", "b");
    tx.create("nodes", { ...n, spec: { ...n.spec, role: "worker" as const } });
  });
  assert.equal((await setRole("m2", "manager")).status, 200);
  assert.equal(w.store.view((tx) => tx.get("nodes", "m2"))!.spec.role, "manager");
});
