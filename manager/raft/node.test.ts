// Three real Raft drivers on loopback, each with its own WAL on disk: election, replication,
// forwarding from followers, leader loss, restarts, snapshots, membership and force-new-cluster.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { makeNode } from "../../core/model/fixtures.ts";
import { encodeSnapshot } from "../../core/store/encoding.ts";
import { Store } from "../../core/store/store.ts";
import { RaftNode, type RaftNodeOptions } from "./node.ts";
import type { PeerAddr } from "./transport.ts";
import { RaftWriter } from "./writer.ts";

const root = mkdtempSync(join(tmpdir(), "fleet-raftnode-"));
after(() => rmSync(root, { recursive: true, force: true }));
const quiet = () => {};

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class Cluster {
  nodes = new Map<number, RaftNode>();
  addrs = new Map<number, PeerAddr>();
  constructor(readonly name: string) {}

  dir(id: number) {
    return join(root, this.name, `m${id}`);
  }

  async start(id: number, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    const node = await RaftNode.start({
      id,
      dataDir: this.dir(id),
      listen: this.addrs.get(id) ?? { host: "127.0.0.1", port: 0 },
      store: new Store(),
      peers: this.addrs,
      tickMs: 20,
      electionTicks: 10,
      log: quiet,
      ...extra,
    });
    this.nodes.set(id, node);
    this.addrs.set(id, node.address);
    for (const n of this.nodes.values()) for (const [pid, a] of this.addrs) n.setPeer(pid, a);
    return node;
  }

  async founders(ids: number[], extra: Partial<RaftNodeOptions> = {}) {
    for (const id of ids) await this.start(id, { bootstrap: ids, ...extra });
  }

  leader(): RaftNode | undefined {
    return [...this.nodes.values()].find((n) => n.isLeader);
  }

  async stop(id: number) {
    await this.nodes.get(id)?.stop();
    this.nodes.delete(id);
  }

  async stopAll() {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
  }

  /** Every running replica's store encodes to the same bytes. */
  async converged(): Promise<void> {
    await waitFor("replicas to converge", () => {
      const snaps = [...this.nodes.values()].map((n) =>
        Buffer.from(encodeSnapshot(n.store)).toString("hex"),
      );
      return snaps.every((s) => s === snaps[0]);
    });
  }
}

function nodeCount(n: RaftNode): number {
  return n.store.view((tx) => tx.count("nodes"));
}

test("three drivers elect a leader, replicate, and forward follower writes", async () => {
  const c = new Cluster("basic");
  try {
    await c.founders([1, 2, 3]);
    const leader = await waitFor("a leader", () => c.leader());
    await new RaftWriter(leader).update((tx) => tx.create("nodes", makeNode("a")));
    const follower = [...c.nodes.values()].find((n) => !n.isLeader)!;
    await new RaftWriter(follower).update((tx) => tx.create("nodes", makeNode("b")));
    // A linearizable read on a follower sees a write the leader just applied.
    await new RaftWriter(leader).update((tx) => tx.create("nodes", makeNode("c")));
    await follower.linearizable();
    assert.ok(
      follower.store.view((tx) => tx.get("nodes", "c")),
      "follower read after ReadIndex",
    );
    await c.converged();
    for (const n of c.nodes.values()) assert.equal(nodeCount(n), 3);
    // Optimistic concurrency through Raft: two writes based on the same version, one wins.
    await follower.linearizable();
    const a = leader.store.view((tx) => tx.get("nodes", "a"))!;
    const w = new RaftWriter(leader);
    const results = await Promise.allSettled([
      w.update((tx) => tx.update("nodes", { ...a, spec: { ...a.spec, labels: { x: "1" } } })),
      new RaftWriter(follower).update((tx) =>
        tx.update("nodes", { ...a, spec: { ...a.spec, labels: { y: "2" } } }),
      ),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.match(String(rejected.reason), /update out of sequence/);
  } finally {
    await c.stopAll();
  }
});

test("losing the leader: a new one is elected and writes resume; the old one catches up", async () => {
  const c = new Cluster("failover");
  try {
    await c.founders([1, 2, 3]);
    const first = await waitFor("a leader", () => c.leader());
    await new RaftWriter(first).update((tx) => tx.create("nodes", makeNode("before")));
    await c.converged();
    await c.stop(first.id);
    const second = await waitFor("a new leader", () => c.leader());
    assert.notEqual(second.id, first.id);
    await new RaftWriter(second).update((tx) => tx.create("nodes", makeNode("after")));
    const back = await c.start(first.id);
    await waitFor("the old leader to catch up", () => nodeCount(back) === 2);
    await c.converged();
  } finally {
    await c.stopAll();
  }
});

test("a full restart of all three keeps every committed write", async () => {
  const c = new Cluster("restart");
  try {
    await c.founders([1, 2, 3], { snapshotEntries: 20, snapshotTailEntries: 5 });
    const leader = await waitFor("a leader", () => c.leader());
    const w = new RaftWriter(leader);
    for (let i = 0; i < 50; i++) await w.update((tx) => tx.create("nodes", makeNode(`n${i}`)));
    await c.stopAll();
    for (const id of [1, 2, 3]) await c.start(id, { snapshotEntries: 20, snapshotTailEntries: 5 });
    // The old leader applied all 50 before it stopped, and applies them again before serving.
    assert.equal(nodeCount(c.nodes.get(leader.id)!), 50);
    for (const n of c.nodes.values())
      await waitFor(`node ${n.id} to hold 50`, () => nodeCount(n) === 50);
    const again = await waitFor("a leader after restart", () => c.leader());
    await new RaftWriter(again).update((tx) => tx.create("nodes", makeNode("post")));
    await c.converged();
  } finally {
    await c.stopAll();
  }
});

test("a member far behind catches up from a snapshot", async () => {
  const c = new Cluster("snapshot");
  const opts = { snapshotEntries: 10, snapshotTailEntries: 2 };
  try {
    await c.founders([1, 2, 3], opts);
    const leader = await waitFor("a leader", () => c.leader());
    const lagger = [...c.nodes.values()].find((n) => n !== leader)!.id;
    await c.stop(lagger);
    const w = new RaftWriter(leader);
    for (let i = 0; i < 40; i++) await w.update((tx) => tx.create("nodes", makeNode(`s${i}`)));
    const back = await c.start(lagger, opts);
    await waitFor("the lagging member to catch up", () => nodeCount(back) === 40);
    await c.converged();
  } finally {
    await c.stopAll();
  }
});

test("adding a fourth member and removing one", async () => {
  const c = new Cluster("members");
  try {
    await c.founders([1, 2, 3]);
    const leader = await waitFor("a leader", () => c.leader());
    await new RaftWriter(leader).update((tx) => tx.create("nodes", makeNode("x")));
    const joiner = await c.start(4); // no bootstrap: waits to be added
    await leader.changeMembership({ type: "addVoter", nodeId: 4 }, joiner.address);
    await waitFor("the new member to catch up", () => nodeCount(joiner) === 1);
    assert.deepEqual(leader.status().confState.voters, [1, 2, 3, 4]);
    const victim = [1, 2, 3].find((id) => id !== leader.id)!;
    await leader.changeMembership({ type: "removeNode", nodeId: victim });
    await c.stop(victim);
    await new RaftWriter(leader).update((tx) => tx.create("nodes", makeNode("y")));
    await c.converged();
    assert.equal(nodeCount(joiner), 2);
  } finally {
    await c.stopAll();
  }
});

test("--force-new-cluster: a lone survivor of a lost quorum keeps its data and takes writes", async () => {
  const c = new Cluster("force");
  try {
    await c.founders([1, 2, 3]);
    const leader = await waitFor("a leader", () => c.leader());
    const w = new RaftWriter(leader);
    for (let i = 0; i < 5; i++) await w.update((tx) => tx.create("nodes", makeNode(`f${i}`)));
    await c.converged();
    await c.stopAll(); // quorum lost for good: only member 2's disk survives
    const survivor = await c.start(2, { forceNewCluster: true });
    assert.equal(nodeCount(survivor), 5);
    await waitFor("the survivor to lead", () => survivor.isLeader);
    assert.deepEqual(survivor.status().confState.voters, [2]);
    await new RaftWriter(survivor).update((tx) => tx.create("nodes", makeNode("alone")));
    assert.equal(nodeCount(survivor), 6);
    await c.stop(2);
    const again = await c.start(2); // and it stays a one-member cluster across restarts
    await waitFor("leadership after restart", () => again.isLeader);
    assert.equal(nodeCount(again), 6);
  } finally {
    await c.stopAll();
  }
});

test("a malformed or forged message from a peer costs that message only", async () => {
  const c = new Cluster("badpeer");
  const lines: string[] = [];
  try {
    await c.start(1, { bootstrap: [1], log: (l) => lines.push(l) });
    const node = c.nodes.get(1)!;
    await waitFor("a leader", () => node.isLeader);
    const { Transport } = await import("./transport.ts");
    const rogue = await Transport.start({
      id: 2,
      listen: { host: "127.0.0.1", port: 0 },
      onMessage: () => {},
      log: quiet,
    });
    try {
      rogue.addPeer(1, node.address);
      rogue.send(1, { type: "app", from: 2, to: 1, term: "high" });
      rogue.send(1, {
        type: "heartbeat",
        from: 3,
        to: 1,
        term: 9,
        logTerm: 0,
        index: 0,
        entries: [],
        commit: 0,
        reject: false,
        rejectHint: 0,
      });
      await waitFor(
        "both refusals logged",
        () => lines.filter((l) => /dropped a/.test(l)).length >= 2,
      );
    } finally {
      await rogue.close();
    }
    assert.ok(node.isLeader, "still leading: the forged higher term was never stepped");
    await new RaftWriter(node).update((tx) => tx.create("nodes", makeNode("ok")));
    assert.equal(nodeCount(node), 1);
  } finally {
    await c.stopAll();
  }
});
