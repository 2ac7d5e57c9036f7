// Three real manager processes on loopback (Raft, brokers in a mesh, API, dispatcher and
// orchestrator on the leader) with simulated agents on a follower's broker.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SimAgent } from "../../manager/dispatcher/sim-agent.ts";
import { Managers } from "./managers.ts";

const spec = (name: string, replicas: number) => ({
  name,
  mode: { replicated: { replicas } },
  taskTemplate: { containerSpec: { image: "busybox" } },
});

interface ServiceRow {
  spec: { name: string };
  replicas?: { running: number; desired: number };
}

const c = new Managers();
const agents: SimAgent[] = [];

before(async () => {
  await c.init(3);
  for (const id of [1, 2, 3]) c.start(id);
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => {});
  await c.close();
});

async function running(id: number, name: string, want: number) {
  return c.waitFor(
    `${name} to run ${want} tasks`,
    async () => {
      const r = await c.api<
        { status: { state: number }; desiredState: number; serviceId: string }[]
      >(id, "GET", `/v1/tasks?service=${name}`);
      const up = r.body.filter((t) => t.status.state === 512 && t.desiredState === 512).length;
      return up === want ? true : undefined;
    },
    60_000,
  );
}

test("elect, accept a service on a follower, and run it on agents attached to a follower's broker", async () => {
  const leader = await c.leader(60_000);
  // The brokers join their mesh once every manager has registered in the store; an agent's
  // hello sent before that reaches no dispatcher (real agents repeat it; these simulated ones
  // say it once).
  await c.waitFor(
    "three managers registered",
    async () => {
      const r = await c.api<{ managerStatus?: unknown }[]>(leader, "GET", "/v1/nodes");
      return r.body.filter((n) => n.managerStatus).length === 3 ? true : undefined;
    },
    60_000,
  );
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const m = c.members.get(follower)!;
  for (const n of ["edge-1", "edge-2"]) {
    agents.push(
      await SimAgent.start({
        url: `mqtt://127.0.0.1:${m.brokerPort}`,
        clusterId: c.clusterId,
        nodeId: n,
      }),
    );
  }
  const created = await c.api(follower, "POST", "/v1/services/create", spec("web", 2));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await running(follower, "web", 2);
  // The tasks run on the simulated agents, whose assignments came from the leader's
  // dispatcher through the broker mesh (the agents sit on a follower's broker).
  const tasks = await c.api<{ nodeId: string }[]>(follower, "GET", "/v1/tasks?service=web");
  const nodes = new Set(tasks.body.map((t) => t.nodeId));
  for (const n of nodes) {
    const agent = agents.find((a) => a.nodeId === n);
    assert.ok(agent, `task on ${n}, one of the agents`);
    assert.ok(agent.tasks.length > 0 && agent.assignmentsReceived > 0);
  }
});

test("SIGKILL of the leader: a new one is elected and writes resume", async () => {
  const leader = await c.leader();
  await c.kill(leader);
  const next = await c.leader(60_000, leader);
  const created = await c.api(next, "POST", "/v1/services/create", spec("api", 1));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  c.start(leader);
  await c.waitFor(
    "the old leader back",
    async () => (await c.api(leader, "GET", "/v1/info")).status === 200,
  );
});

test("a full restart of all three keeps every service", async () => {
  for (const id of [1, 2, 3]) await c.kill(id, "SIGTERM");
  for (const id of [1, 2, 3]) c.start(id);
  const leader = await c.leader(60_000);
  const names = await c.waitFor("both services listed", async () => {
    const r = await c.api<ServiceRow[]>(leader, "GET", "/v1/services");
    const n = r.body.map((s) => s.spec.name).sort();
    return n.length === 2 ? n : undefined;
  });
  assert.deepEqual(names, ["api", "web"]);
});

test("--force-new-cluster: a lone survivor keeps the services and takes writes", async () => {
  for (const id of [1, 2, 3]) await c.kill(id);
  c.start(2, ["--force-new-cluster"]);
  const leader = await c.leader(60_000);
  assert.equal(leader, 2);
  const r = await c.api<ServiceRow[]>(2, "GET", "/v1/services");
  assert.deepEqual(r.body.map((s) => s.spec.name).sort(), ["api", "web"]);
  const created = await c.api(2, "POST", "/v1/services/create", spec("solo", 1));
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
