// Proposals lost in a leader change settle at once with a retryable "proposal_dropped" (not
// after the proposal timeout), and RaftWriter proposes them again to the new leader. Real Raft
// drivers on loopback; the proposal timeout is set far beyond the tests' own deadlines, so only
// the prompt verdict can make them pass.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { makeNode } from "../../core/model/fixtures.ts";
import { msg } from "../../core/raft/message.ts";
import { encodeActions } from "../../core/store/encoding.ts";
import { Store } from "../../core/store/store.ts";
import { RaftNode } from "./node.ts";
import { isDropped } from "./proposals.ts";
import { type PeerAddr, Transport } from "./transport.ts";
import { toWire } from "./wire.ts";
import { RaftWriter } from "./writer.ts";

const root = mkdtempSync(join(tmpdir(), "fleet-proposals-"));
after(() => rmSync(root, { recursive: true, force: true }));
const quiet = () => {};
const NEVER_MS = 120_000; // the proposal timeout: far beyond every wait below
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port nothing listens on: messages sent there are lost. */
async function deadAddr(): Promise<PeerAddr> {
  const t = await Transport.start({
    id: 99,
    listen: { host: "127.0.0.1", port: 0 },
    onMessage() {},
  });
  const addr = t.address;
  await t.close();
  return addr;
}

async function cluster(name: string): Promise<Map<number, RaftNode>> {
  const nodes = new Map<number, RaftNode>();
  const addrs = new Map<number, PeerAddr>();
  for (const id of [1, 2, 3]) {
    const node = await RaftNode.start({
      id,
      dataDir: join(root, name, `m${id}`),
      listen: { host: "127.0.0.1", port: 0 },
      store: new Store(),
      peers: addrs,
      bootstrap: [1, 2, 3],
      tickMs: 20,
      electionTicks: 10,
      proposalTimeoutMs: NEVER_MS,
      log: quiet,
    });
    nodes.set(id, node);
    addrs.set(id, node.address);
    for (const n of nodes.values()) for (const [pid, a] of addrs) n.setPeer(pid, a);
  }
  return nodes;
}

const leaderOf = (nodes: Map<number, RaftNode>, not?: number) =>
  [...nodes.values()].find((n) => n.isLeader && n.id !== not);

async function stopAll(nodes: Map<number, RaftNode>): Promise<void> {
  for (const n of nodes.values()) await n.stop();
}

test("a leader cut off from its followers: its proposal is dropped once a new leader commits", async () => {
  const nodes = await cluster("cutoff");
  try {
    const old = await waitFor("a leader", () => leaderOf(nodes));
    await new RaftWriter(old).update((tx) => tx.create("nodes", makeNode("before")));
    // The old leader can no longer send (its followers still reach it): its next entry is
    // appended to its log only, and the others elect a new leader whose entry replaces it.
    const dead = await deadAddr();
    for (const id of nodes.keys()) if (id !== old.id) old.setPeer(id, dead);
    const outcome = old.propose([{ op: "create", table: "nodes", object: makeNode("lost") }]).then(
      () => "applied",
      (err: unknown) => err,
    );
    const next = await waitFor("a new leader", () => leaderOf(nodes, old.id));
    await new RaftWriter(next).update((tx) => tx.create("nodes", makeNode("after")));
    // The partition heals: the old leader's entry is replaced by the new leader's.
    for (const [id, n] of nodes) if (id !== old.id) old.setPeer(id, n.address);
    const err = await Promise.race([outcome, sleep(20_000).then(() => "still pending")]);
    assert.ok(isDropped(err), `dropped, got ${String(err)}`);
    assert.match(String(err), /entry was overwritten/);
    assert.equal(
      next.store.view((tx) => tx.get("nodes", "lost")),
      undefined,
      "the dropped write never commits",
    );
  } finally {
    await stopAll(nodes);
  }
});

test("RaftWriter on a follower whose leader dies: the write is proposed again and commits", async () => {
  const nodes = await cluster("forward");
  try {
    const old = await waitFor("a leader", () => leaderOf(nodes));
    const follower = [...nodes.values()].find((n) => n !== old)!;
    await new RaftWriter(follower).update((tx) => tx.create("nodes", makeNode("before")));
    // The follower forwards to a leader that is gone: the proposal is lost with it.
    await old.stop();
    nodes.delete(old.id);
    const writer = new RaftWriter(follower, { retryWindowMs: NEVER_MS });
    const write = writer.update((tx) => tx.create("nodes", makeNode("during")));
    const r = await Promise.race([write.then(() => "ok"), sleep(20_000).then(() => "pending")]);
    assert.equal(r, "ok");
    assert.ok(writer.resubmits >= 1, "proposed again after the drop");
    assert.ok(follower.store.view((tx) => tx.get("nodes", "during")));
    const next = await waitFor("a new leader", () => leaderOf(nodes));
    await waitFor("the write on the new leader", () =>
      next.store.view((tx) => tx.get("nodes", "during")),
    );
    assert.equal(
      next.store.view((tx) => tx.count("nodes")),
      2,
    );
  } finally {
    await stopAll(nodes);
  }
});

test("a proposal relayed by a follower (its origin kept) is taken", async () => {
  const nodes = await cluster("relay");
  const lines: string[] = [];
  try {
    const leader = await waitFor("a leader", () => leaderOf(nodes));
    const [a, b] = [1, 2, 3].filter((id) => id !== leader.id) as [number, number];
    // A connection that says it is follower `a` relays a proposal that follower `b` made.
    const relay = await Transport.start({
      id: a,
      listen: { host: "127.0.0.1", port: 0 },
      onMessage() {},
      log: (l) => lines.push(l),
    });
    try {
      relay.addPeer(leader.id, leader.address);
      const data = encodeActions([{ op: "create", table: "nodes", object: makeNode("relayed") }]);
      const entry = { term: 0, index: 0, type: "normal" as const, data };
      relay.send(
        leader.id,
        toWire(msg({ type: "prop", from: b, to: leader.id, entries: [entry] })),
      );
      await waitFor("the relayed write", () =>
        leader.store.view((tx) => tx.get("nodes", "relayed")),
      );
    } finally {
      await relay.close();
    }
  } finally {
    await stopAll(nodes);
  }
});
