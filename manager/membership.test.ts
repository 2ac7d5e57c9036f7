// The membership reconciler's decisions, without Raft: promote a registered, caught-up learner;
// remove a demoted manager unless that loses quorum; clear a removed manager's status.

import assert from "node:assert/strict";
import { test } from "node:test";
import { nextMembershipStep, reachabilityChanges } from "./membership.ts";

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
