// Raft peers bound to their ids: a manager certificate passes TLS, but a peer claiming Raft id N
// must present the certificate of the node that owns N in the store. Real transports over
// mutual TLS with two real manager certificates, used the right way round and swapped.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Store } from "../../core/store/store.ts";
import { raftSockets } from "../secure.ts";
import { type IssuedTls, TestCluster } from "../secure-testing.ts";
import { type RaftOwners, raftBindingProblem, storeRaftOwners } from "./peer-binding.ts";
import { Transport } from "./transport.ts";

const owners = (m: Record<number, string>): RaftOwners => ({
  ownerOf: (id) => m[id],
  raftIdOf: (node) => {
    const e = Object.entries(m).find(([, n]) => n === node);
    return e ? Number(e[0]) : undefined;
  },
});

test("raftBindingProblem: owner matches, another owner refused, unknown ids allowed", () => {
  const o = owners({ 1: "m1", 2: "m2" });
  assert.equal(raftBindingProblem(o, 1, "m1"), undefined);
  assert.match(raftBindingProblem(o, 1, "m2") ?? "", /raft id 1 belongs to node m1.*m2/);
  // An id the store does not know yet, claimed by a node known as another id's owner.
  assert.match(raftBindingProblem(o, 7, "m2") ?? "", /m2 owns raft id 2, not 7/);
  // Neither known (a joining manager still catching up): allowed.
  assert.equal(raftBindingProblem(o, 7, "m3"), undefined);
});

test("storeRaftOwners reads managerStatus.raftId and follows store changes", async () => {
  const store = new Store();
  const node = (id: string, raftId?: string) => ({
    id,
    version: 0,
    createdAt: 0,
    updatedAt: 0,
    description: {
      hostname: id,
      platform: { os: "linux", arch: "x64" },
      resources: { nanoCPUs: 0, memoryBytes: 0 },
      engineLabels: {},
    },
    spec: { role: "manager" as const, availability: "drain" as const, labels: {} },
    status: { state: "ready" as const, addr: "127.0.0.1", lastSeen: 0 },
    ...(raftId
      ? {
          managerStatus: {
            raftId,
            addr: "127.0.0.1:1",
            reachability: "reachable" as const,
            leader: false,
          },
        }
      : {}),
  });
  await store.update((tx) => {
    tx.create("nodes", node("m1", "11"));
    tx.create("nodes", node("w1"));
  });
  const o = storeRaftOwners(store);
  assert.equal(o.ownerOf(11), "m1");
  assert.equal(o.raftIdOf("w1"), undefined);
  await store.update((tx) => tx.create("nodes", node("m2", "22")));
  assert.equal(o.ownerOf(22), "m2");
  assert.equal(o.raftIdOf("m2"), 22);
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function transport(
  c: TestCluster,
  id: number,
  m: IssuedTls,
  got: { from: number; msg: unknown }[],
  logs: string[],
) {
  return Transport.start({
    id,
    listen: { host: "127.0.0.1", port: 0 },
    onMessage: (from, msg) => got.push({ from, msg }),
    sockets: raftSockets(c.deps(() => m, { raftOwners: owners({ 1: "m1", 2: "m2" }) })),
    log: (l) => logs.push(l),
  });
}

test("a peer presenting another manager's certificate for a raft id is refused both ways", async () => {
  const c = new TestCluster("c1");
  const m1 = c.issue("m1", "manager");
  const m2 = c.issue("m2", "manager");
  const got2: { from: number; msg: unknown }[] = [];
  const logs: string[] = [];
  const t2 = await transport(c, 2, m2, got2, logs);
  const honest = await transport(c, 1, m1, [], logs);
  // Raft id 1 claimed with m2's certificate (swapped): both real, valid manager certificates.
  const impostor = await transport(c, 1, m2, [], logs);
  try {
    honest.addPeer(2, t2.address);
    await until("the honest peer's message", () => {
      if (got2.length === 0) honest.send(2, { ok: true });
      return got2.length > 0;
    });
    assert.deepEqual(got2[0], { from: 1, msg: { ok: true } });

    // Inbound: the impostor dials t2 claiming raft id 1; t2 refuses after the hello.
    const before = got2.length;
    impostor.addPeer(2, t2.address);
    for (let i = 0; i < 20; i++) impostor.send(2, { forged: i });
    await until("the inbound refusal", () =>
      c.logged("raft id 1 belongs to node m1, the certificate names m2"),
    );
    await until("the transport's log line", () => logs.some((l) => l.includes("[wrong_identity]")));
    assert.equal(
      got2.slice(before).some((g) => JSON.stringify(g.msg).includes("forged")),
      false,
      "no forged message delivered",
    );

    // Outbound: t2 dials "raft id 1" at the impostor's address; the server's certificate names
    // m2, not raft id 1's owner m1: refused by the dialling side.
    t2.addPeer(1, impostor.address);
    t2.send(1, { to: "impostor" });
    await until("the outbound refusal", () =>
      logs.some((l) => l.includes("refused as raft id 1") && l.includes("m2")),
    );
    assert.equal(t2.peerStatus(1)?.connected, false);
  } finally {
    await Promise.all([t2.close(), honest.close(), impostor.close()]);
  }
});
