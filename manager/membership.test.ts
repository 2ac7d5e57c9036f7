// The membership reconciler's decisions, without Raft: promote a registered, caught-up learner;
// remove a demoted manager unless that loses quorum; clear a removed manager's status.

import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultClusterSpec } from "../core/model/defaults.ts";
import { Store } from "../core/store/store.ts";
import { LocalWriter } from "../core/store/writer.ts";
import { MembershipReconciler, nextMembershipStep, reachabilityChanges } from "./membership.ts";
import { recordingLogger } from "./secure-testing.ts";

const node = (id: string, raftId: number, role: string, state = "ready") => ({
  id,
  spec: { role },
  status: { state },
  managerStatus: { raftId: String(raftId) },
});
const progress = (entries: [number, number, boolean][]) =>
  new Map(entries.map(([id, match, recentActive]) => [id, { match, recentActive }]));

test("a learner becomes a voter once registered and caught up", () => {
  const conf = { voters: [1], learners: [2] };
  const nodes = [node("a", 1, "manager"), node("b", 2, "manager", "unknown")];
  const s = { conf, lastIndex: 500, progress: progress([[2, 499, true]]) };
  assert.equal(nextMembershipStep(nodes, s, 1), undefined, "not registered yet");
  nodes[1]!.status.state = "ready";
  assert.deepEqual(nextMembershipStep(nodes, s, 1), { kind: "promote", raftId: 2 });
  const behind = { ...s, progress: progress([[2, 10, true]]) };
  assert.equal(nextMembershipStep(nodes, behind, 1), undefined, "still catching up");
});

test("a demoted manager leaves the group, unless the rest would lack a quorum", () => {
  const conf = { voters: [1, 2, 3], learners: [] };
  const nodes = [node("a", 1, "manager"), node("b", 2, "worker"), node("c", 3, "manager")];
  const live = progress([
    [2, 9, true],
    [3, 9, true],
  ]);
  assert.deepEqual(nextMembershipStep(nodes, { conf, lastIndex: 9, progress: live }, 1), {
    kind: "remove",
    raftId: 2,
    nodeId: "b",
  });
  const cDown = progress([
    [2, 9, true],
    [3, 1, false],
  ]);
  const step = nextMembershipStep(nodes, { conf, lastIndex: 9, progress: cDown }, 1);
  assert.equal(step?.kind, "refuse");
  // The leader never removes itself: it hands leadership to a live voter first.
  const selfDemoted = [node("a", 1, "worker"), node("c", 3, "manager")];
  const two = { voters: [1, 3], learners: [] };
  assert.equal(nextMembershipStep(selfDemoted, { conf: two, lastIndex: 9 }, 1), undefined);
  assert.deepEqual(
    nextMembershipStep(selfDemoted, { conf: two, lastIndex: 9, progress: live }, 1),
    { kind: "transfer", to: 3 },
  );
});

test("a removed manager's status is cleared; founders not yet registered are left alone", () => {
  const nodes = [node("a", 1, "manager"), node("b", 2, "worker")];
  assert.deepEqual(
    nextMembershipStep(nodes, { conf: { voters: [1], learners: [] }, lastIndex: 3 }, 1),
    { kind: "clear", nodeId: "b" },
  );
  const founders = { conf: { voters: [1, 2, 3], learners: [] }, lastIndex: 3 };
  assert.equal(nextMembershipStep([node("a", 1, "manager")], founders, 1), undefined);
});

test("stored reachability follows the leader's Raft progress; non-members are left alone", () => {
  const conf = { voters: [1, 2, 3], learners: [4] };
  const withReach = (id: string, raftId: number, reachability: string) => ({
    id,
    managerStatus: { raftId: String(raftId), reachability },
  });
  const nodes: { id: string; managerStatus?: { raftId: string; reachability: string } }[] = [
    withReach("a", 1, "unknown"),
    withReach("b", 2, "reachable"),
    withReach("c", 3, "unreachable"),
    withReach("d", 4, "reachable"),
    withReach("e", 5, "reachable"),
    { id: "w" },
  ];
  const s = {
    conf,
    lastIndex: 9,
    progress: progress([
      [2, 9, false],
      [3, 9, true],
      [4, 9, true],
    ]),
  };
  assert.deepEqual(reachabilityChanges(nodes, s, 1), [
    { nodeId: "a", reachability: "reachable" },
    { nodeId: "b", reachability: "unreachable" },
    { nodeId: "c", reachability: "reachable" },
  ]);
  const settled = nodes.map((n) =>
    n.managerStatus && ["a", "c"].includes(n.id)
      ? { ...n, managerStatus: { ...n.managerStatus, reachability: "reachable" } }
      : n.id === "b"
        ? { ...n, managerStatus: { ...n.managerStatus!, reachability: "unreachable" } }
        : n,
  );
  assert.deepEqual(reachabilityChanges(settled, s, 1), []);
});

// ---- Certificates follow the role (manager/ca/role-reissue.ts) ------------------------------

const cert = (serial: string, role?: "worker" | "manager", superseded?: string[]) => ({
  serial,
  notAfter: 9e12,
  ...(role ? { role } : {}),
  ...(superseded ? { superseded: superseded.map((s) => ({ serial: s, notAfter: 9e12 })) } : {}),
});

test("a demoted manager is removed once its worker certificate is recorded, or after the grace", () => {
  const conf = { voters: [1, 2, 3], learners: [] };
  const live = progress([
    [2, 9, true],
    [3, 9, true],
  ]);
  const s = { conf, lastIndex: 9, progress: live };
  const b = { ...node("b", 2, "worker"), certificate: cert("aa01", "manager") };
  const nodes = [node("a", 1, "manager"), b, node("c", 3, "manager")];
  assert.equal(
    nextMembershipStep(nodes, s, 1, () => false),
    undefined,
    "waits for its cert",
  );
  assert.equal(nextMembershipStep(nodes, s, 1, () => true)?.kind, "remove", "grace over");
  const reissued = { ...b, certificate: cert("aa02", "worker", ["aa01"]) };
  assert.deepEqual(
    nextMembershipStep([nodes[0]!, reissued, nodes[2]!], s, 1, () => false),
    {
      kind: "remove",
      raftId: 2,
      nodeId: "b",
    },
  );
  // Its superseded manager certificate is not revoked while it is still a member.
  assert.notEqual(
    nextMembershipStep([nodes[0]!, reissued, nodes[2]!], { ...s, progress: undefined }, 1)?.kind,
    "revoke",
  );
});

test("a member presenting its new manager certificate has the superseded ones revoked", () => {
  const conf = { voters: [1, 2], learners: [] };
  const s = { conf, lastIndex: 9 };
  const promotedBack = {
    ...node("b", 2, "manager"),
    certificate: cert("bb03", "manager", ["bb01", "bb02"]),
  };
  assert.deepEqual(nextMembershipStep([node("a", 1, "manager"), promotedBack], s, 1), {
    kind: "revoke",
    nodeId: "b",
  });
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("leaving the group revokes the manager certificate in the write that clears its status", async () => {
  const store = new Store();
  const full = (id: string, raftId: number, role: "worker" | "manager", c: object) => ({
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
    spec: { role, availability: "drain" as const, labels: {} },
    status: { state: "ready" as const, addr: "127.0.0.1", lastSeen: 0 },
    certificate: c as { serial: string; notAfter: number },
    managerStatus: {
      raftId: String(raftId),
      addr: "127.0.0.1:1",
      reachability: "reachable" as const,
      leader: false,
    },
  });
  await store.update((tx) => {
    tx.create("clusters", {
      id: "c1",
      version: 0,
      createdAt: 0,
      updatedAt: 0,
      spec: defaultClusterSpec,
    });
    tx.create("nodes", full("a", 1, "manager", cert("a0")));
    // b was demoted and got its worker certificate; c was demoted and never got one (dead).
    tx.create("nodes", full("b", 2, "worker", cert("b1", "worker", ["b0"])));
    tx.create("nodes", full("c", 3, "worker", cert("c0", "manager")));
  });
  const r = new MembershipReconciler({
    store,
    writer: new LocalWriter(store),
    selfRaftId: 1,
    status: () => ({ conf: { voters: [1], learners: [] }, lastIndex: 9 }),
    change: async () => {},
    transfer: () => {},
    log: recordingLogger(),
  });
  try {
    await until("both cleared", () =>
      store.view((tx) => tx.find("nodes").every((n) => n.id === "a" || !n.managerStatus)),
    );
    const c = store.view((tx) => tx.get("clusters", "c1"));
    const revoked = (c?.revocations?.serials ?? []).map((s) => s.serial).sort();
    assert.deepEqual(revoked, ["b0", "c0"], "b's old manager and c's only certificate");
    assert.deepEqual(c?.revocations?.removedNodes, [], "ids kept: not removed from the cluster");
    const b = store.view((tx) => tx.get("nodes", "b"));
    assert.deepEqual(b?.certificate, { serial: "b1", notAfter: 9e12, role: "worker" });
  } finally {
    r.stop();
  }
});

test("a manager promoted back after its removal committed is cleared all the same", () => {
  const conf = { voters: [1], learners: [] };
  const nodes = [node("a", 1, "manager"), node("b", 2, "manager")];
  // Not a member and a manager: a joining manager before its addLearner, left alone...
  assert.equal(nextMembershipStep(nodes, { conf, lastIndex: 9 }, 1), undefined);
  // ...unless this leader removed it: then it has left, whatever its role says now.
  assert.deepEqual(
    nextMembershipStep(nodes, { conf, lastIndex: 9 }, 1, () => true, new Set([2])),
    {
      kind: "clear",
      nodeId: "b",
    },
  );
});
