// A secure cluster grown by token, with real manager processes on loopback: `--init` founds it
// (root CA, tokens, TLS everywhere), two managers join by token (one through a follower's
// broker), writes reach all three, the leader's death is survived, a joined manager restarted
// from its data dir rejoins, bad tokens are refused with a clear error, and a demoted manager
// leaves the Raft group.

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Managers } from "./managers.ts";

const spec = (name: string) => ({
  name,
  mode: { replicated: { replicas: 1 } },
  taskTemplate: { containerSpec: { image: "busybox" } },
});

interface NodeRow {
  id: string;
  version: number;
  description: { hostname: string };
  spec: { role: string; availability: string; labels: Record<string, string> };
  status: { state: string };
  managerStatus?: { raftId: string };
}

const c = new Managers();

before(async () => {
  await c.init(5); // 1-3: the cluster; 4: joins that must fail; 5: another cluster
});

after(async () => {
  await c.close();
});

async function managersReady(via: number, n: number): Promise<NodeRow[]> {
  return c.waitFor(
    `${n} managers ready`,
    async () => {
      const r = await c.api<NodeRow[]>(via, "GET", "/v1/nodes");
      const ready = r.body.filter((x) => x.managerStatus && x.status.state === "ready");
      return ready.length === n ? ready : undefined;
    },
    60_000,
  );
}

async function hasService(id: number, name: string): Promise<void> {
  await c.waitFor(
    `${name} readable on manager ${id}`,
    async () => {
      const r = await c.api<{ spec: { name: string } }[]>(id, "GET", "/v1/services");
      return r.status === 200 && r.body.some((s) => s.spec.name === name);
    },
    60_000,
  );
}

test("init one secure manager, join two by token: a write on the leader is on all three", async () => {
  c.startInit(1);
  assert.equal(await c.leader(60_000), 1);
  const tokens = await c.joinTokens(1);
  assert.match(tokens.manager, /^FLT1-[0-9a-f]{64}-[0-9a-f]{32}$/);
  assert.notEqual(tokens.manager, tokens.worker);
  c.startJoin(2, tokens.manager, 1);
  await managersReady(1, 2);
  c.startJoin(3, tokens.manager, 2); // through a follower's broker: the mesh reaches the CA
  await managersReady(1, 3);
  const leader = await c.leader();
  const created = await c.api(leader, "POST", "/v1/services/create", spec("web"));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const id of [1, 2, 3]) await hasService(id, "web");
  for (const id of [1, 2, 3]) {
    const certs = join(c.members.get(id)!.dir, "certs");
    for (const f of ["ca.pem", "node.pem", "node.key"])
      assert.ok(statSync(join(certs, f)).size > 0);
    assert.equal(statSync(join(certs, "node.key")).mode & 0o777, 0o600);
  }
  // The cluster view never shows the CA key or the tokens.
  const cluster = await c.api<Record<string, unknown>>(leader, "GET", "/v1/cluster");
  const text = JSON.stringify(cluster.body);
  assert.ok(!text.includes("PRIVATE KEY") && !text.includes(tokens.manager));
});

test("SIGKILL of the leader: a new one is elected and writes resume", async () => {
  const leader = await c.leader();
  await c.kill(leader);
  const next = await c.leader(60_000, leader);
  const created = await c.api(next, "POST", "/v1/services/create", spec("api"));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  c.start(leader);
  await hasService(leader, "api");
});

test("a joined manager restarted from its data dir rejoins with no operator action", async () => {
  const leader = await c.leader();
  const joined = [2, 3].find((id) => id !== leader)!;
  await c.kill(joined);
  const created = await c.api(leader, "POST", "/v1/services/create", spec("db"));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  c.start(joined);
  await hasService(joined, "db");
});

async function refused(token: string, via: number, why: RegExp): Promise<void> {
  c.startJoin(4, token, via);
  const code = await c.exited(4);
  const log = c.members.get(4)!.log;
  assert.notEqual(code, 0, log);
  assert.match(log, why);
  assert.ok(!log.includes(token.slice(-32)), "the token's secret is not logged");
}

test("a wrong token, another cluster's token and a rotated-away token are refused", async () => {
  const leader = await c.leader();
  const tokens = await c.joinTokens(leader);
  const digest = tokens.manager.split("-")[1];
  await refused(`FLT1-${digest}-${"0".repeat(32)}`, leader, /join token|wrong-token|refused/i);
  c.startInit(5);
  await c.waitFor("the other cluster", async () => (await c.joinTokens(5)).manager);
  const foreign = (await c.joinTokens(5)).manager;
  await c.kill(5);
  await refused(foreign, leader, /CA|pinned|digest/i);
  const rotated = await c.api<{ manager: string }>(
    leader,
    "POST",
    "/v1/join-tokens/rotate?role=manager",
  );
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.notEqual(rotated.body.manager, tokens.manager);
  await refused(tokens.manager, leader, /join token|wrong-token|refused/i);
  // Nothing changed for the cluster: still three managers, still writable.
  await managersReady(leader, 3);
});

test("demoting a manager removes it from the Raft group; then it can be removed", async () => {
  const leader = await c.leader();
  const victim = [1, 2, 3].find((id) => id !== leader)!;
  const nodes = await managersReady(leader, 3);
  const node = nodes.find((n) => n.description.hostname === `manager-${victim}`)!;
  const demote = await c.api(
    leader,
    "POST",
    `/v1/nodes/${node.id}/update?version=${node.version}`,
    { ...node.spec, role: "worker" },
  );
  assert.equal(demote.status, 200, JSON.stringify(demote.body));
  // Out of the group: its managerStatus is cleared once the removal is applied.
  await c.waitFor(
    "the demoted manager out of the Raft group",
    async () => {
      const r = await c.api<NodeRow>(leader, "GET", `/v1/nodes/${node.id}`);
      return r.body.managerStatus === undefined;
    },
    60_000,
  );
  await c.kill(victim);
  const created = await c.api(leader, "POST", "/v1/services/create", spec("after"));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const rm = await c.api(leader, "DELETE", `/v1/nodes/${node.id}?force=true`);
  assert.equal(rm.status, 200, JSON.stringify(rm.body));
  const remaining = [1, 2, 3].filter((id) => id !== victim);
  for (const id of remaining) await hasService(id, "after");
});
