// Certificates follow the role, with three real secure managers on loopback (the built bundle:
// `npm run build` first):
//  - a peer claiming a member's Raft id with another member's (real, valid) manager certificate
//    is refused by the Raft transport;
//  - demoting a manager reissues its certificate as OU=worker on disk, and once it is out of the
//    Raft group its old manager serial is revoked: the broker and the Raft transport refuse it;
//  - promoting the node it left behind (a worker without a manager daemon, as an edge agent's
//    is) is refused with what to do instead.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { Transport } from "../../manager/raft/transport.ts";
import { raftSockets } from "../../manager/secure.ts";
import { recordingLogger } from "../../manager/secure-testing.ts";
import { Managers } from "./managers.ts";

interface NodeRow {
  id: string;
  version: number;
  description: { hostname: string };
  spec: { role: string; availability: string; labels: Record<string, string> };
  status: { state: string };
  certificate?: { serial: string; role?: string };
  managerStatus?: { raftId: string };
}

const c = new Managers({ bundle: true });

before(async () => {
  await c.init(3);
  c.startInit(1);
  await c.leader(60_000);
  const tokens = await c.joinTokens(1);
  c.startJoin(2, tokens.manager, 1);
  await managersReady(1, 2);
  c.startJoin(3, tokens.manager, 1);
  await managersReady(1, 3);
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
    90_000,
  );
}

const certs = (id: number) => {
  const dir = join(c.members.get(id)!.dir, "certs");
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return { caPem: read("ca.pem"), certPem: read("node.pem"), keyPem: read("node.key") };
};

const byHost = (nodes: NodeRow[], id: number) =>
  nodes.find((n) => n.description.hostname === `manager-${id}`)!;

/** Dials member `to`'s Raft port claiming `raftId`, with `material`; sends a few messages. */
async function claimRaftId(
  to: number,
  toRaftId: number,
  raftId: number,
  material: ReturnType<typeof certs>,
) {
  const sec = {
    clusterId: parseCertificate(material.certPem).subject.organization,
    tls: () => material,
    isRevoked: () => false,
    joinTokenRole: () => undefined,
    log: recordingLogger(),
  };
  // The client side checks the server as a manager of the cluster, not its raft id: the
  // server's refusal is under test.
  const t = await Transport.start({
    id: raftId,
    listen: { host: "127.0.0.1", port: 0 },
    onMessage: () => undefined,
    sockets: { ...raftSockets(sec), checkRaftId: undefined },
    log: () => undefined,
  });
  t.addPeer(toRaftId, { host: "127.0.0.1", port: c.members.get(to)!.raftPort });
  return { send: (m: unknown) => t.send(toRaftId, m), close: () => t.close() };
}

/** MQTT CONNECT to member `id`'s broker with a certificate: "connected" or why not. */
async function brokerConnect(id: number, m: ReturnType<typeof certs>): Promise<string> {
  try {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${c.members.get(id)!.brokerPort}`, {
      ca: m.caPem,
      cert: m.certPem,
      key: m.keyPem,
      servername: "fleet-manager",
      clientId: `e2e-probe-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    await client.endAsync();
    return "connected";
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

test("a peer claiming a member's raft id with another manager's certificate is refused", async () => {
  const nodes = await managersReady(1, 3);
  const m3 = byHost(nodes, 3);
  // Member 2's real certificate, claiming member 3's raft id, dialling member 1.
  const m1 = Number(byHost(nodes, 1).managerStatus!.raftId);
  const t = await claimRaftId(1, m1, Number(m3.managerStatus!.raftId), certs(2));
  try {
    for (let i = 0; i < 5; i++) t.send({ forged: i });
    await c.waitFor(
      "member 1 refusing the swapped certificate",
      async () => {
        if (c.members.get(1)!.log.includes("peer refused: raft identity")) return true;
        t.send({ forged: "again" });
        return false;
      },
      30_000,
    );
    assert.match(c.members.get(1)!.log, new RegExp(`belongs to node ${m3.id}`));
  } finally {
    await t.close();
  }
});

test("demotion reissues the certificate as a worker's and revokes the manager one", async () => {
  const leader = await c.leader();
  const victim = [1, 2, 3].find((id) => id !== leader)!;
  const nodes = await managersReady(leader, 3);
  const node = byHost(nodes, victim);
  const old = certs(victim);
  const oldCert = parseCertificate(old.certPem);
  assert.equal(oldCert.subject.organizationalUnit, "manager");
  // The manager certificate opens the broker before the demotion (the check below can fail).
  assert.equal(await brokerConnect(leader, old), "connected");

  const demote = await c.api(
    leader,
    "POST",
    `/v1/nodes/${node.id}/update?version=${node.version}`,
    { ...node.spec, role: "worker" },
  );
  assert.equal(demote.status, 200, JSON.stringify(demote.body));

  // Its certificate file is reissued for the new role (a new key and serial).
  await c.waitFor(
    "a worker certificate on the demoted manager's disk",
    async () => parseCertificate(certs(victim).certPem).subject.organizationalUnit === "worker",
    60_000,
  );
  const reissued = parseCertificate(certs(victim).certPem);
  assert.notEqual(reissued.serial, oldCert.serial);
  assert.equal(reissued.subject.commonName, node.id);

  // Out of the group, with the new serial recorded and the old one revoked.
  const after = await c.waitFor(
    "the demoted manager out of the Raft group",
    async () => {
      const r = await c.api<NodeRow>(leader, "GET", `/v1/nodes/${node.id}`);
      return r.body.managerStatus === undefined ? r.body : undefined;
    },
    60_000,
  );
  assert.equal(after.certificate?.serial, reissued.serial);
  assert.equal(after.certificate?.role, "worker");
  const cluster = await c.api<{ revocations?: { serials: { serial: string }[] } }>(
    leader,
    "GET",
    "/v1/cluster",
  );
  const revoked = (cluster.body.revocations?.serials ?? []).map((s) => s.serial);
  assert.ok(revoked.includes(oldCert.serial), `${oldCert.serial} in ${revoked.join(",")}`);
  assert.ok(!revoked.includes(reissued.serial));

  // The old manager certificate opens no manager door any more: broker and Raft transport.
  const refused = await c.waitFor(
    "the broker refusing the old certificate",
    async () => {
      const r = await brokerConnect(leader, old);
      return r.startsWith("refused") ? r : undefined;
    },
    30_000,
  );
  assert.match(refused, /refused/);
  const leaderRaftId = Number(byHost(nodes, leader).managerStatus!.raftId);
  const t = await claimRaftId(leader, leaderRaftId, Number(node.managerStatus!.raftId), old);
  try {
    await c.waitFor(
      "the Raft transport refusing the revoked certificate",
      async () => {
        t.send({ after: "revocation" });
        return c.members.get(leader)!.log.includes(`${oldCert.serial} of ${node.id} is revoked`);
      },
      30_000,
    );
  } finally {
    await t.close();
  }
  // The demoted manager stops on its own once out of the group.
  await c.exited(victim, 60_000);

  // Now a worker node with no manager daemon: promoting it is refused with what to do instead.
  const cur = (await c.api<NodeRow>(leader, "GET", `/v1/nodes/${node.id}`)).body;
  const promote = await c.api<{ error: { code: string; message: string } }>(
    leader,
    "POST",
    `/v1/nodes/${node.id}/update?version=${cur.version}`,
    { ...cur.spec, role: "manager" },
  );
  assert.equal(promote.status, 409);
  assert.equal(promote.body.error.code, "failed_precondition");
  assert.match(promote.body.error.message, /runs no manager daemon .*fleet join --token/);
});
