// The leader's CA service against an in-memory bus and store: joins as worker and manager,
// and every refusal (wrong, rotated or foreign token, replay, garbage, a manager token without
// addresses) answered with a typed error and no write.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { decodeMessage, encodeMessage, type MessageBodies } from "../../core/codec/messages.ts";
import { isSignedBy, parseCertificate } from "../../core/crypto/cert-read.ts";
import { generateKeyPair } from "../../core/crypto/keys.ts";
import { signJoinRequest } from "../../core/crypto/proof.ts";
import { parseJoinToken } from "../../core/crypto/token.ts";
import { defaultClusterSpec } from "../../core/model/defaults.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { topics } from "../../core/topics.ts";
import { StoreTokenSource } from "../api/tokens.ts";
import { MemoryBroker } from "../dispatcher/bus.ts";
import { createLogger } from "../log.ts";
import { CertificateAuthority } from "./ca.ts";
import { clusterCAFields } from "./lifecycle.ts";
import { JoinService } from "./service.ts";

const description = {
  hostname: "board-1",
  platform: { os: "linux", arch: "arm64" },
  resources: { nanoCPUs: 4e9, memoryBytes: 2 ** 30 },
  engineLabels: {},
};

function world(clusterId = "c1") {
  const store = new Store();
  const writer = new LocalWriter(store);
  const { ca, tokens } = CertificateAuthority.create({ clusterId });
  store.update((tx) =>
    tx.create("clusters", {
      id: clusterId,
      version: 0,
      createdAt: 1,
      updatedAt: 1,
      spec: { ...defaultClusterSpec },
      ...clusterCAFields(ca, tokens),
    }),
  );
  const broker = new MemoryBroker();
  const learners: number[] = [];
  const failLearner = { on: false };
  let ids = 0;
  const newService = () =>
    new JoinService({
      store,
      writer,
      bus: broker.client(),
      clusterId,
      addLearner: async (raftId) => {
        if (failLearner.on) throw new Error("a membership change is in progress");
        learners.push(raftId);
      },
      members: () => [
        { raftId: 1, host: "127.0.0.1", port: 4242 },
        ...learners.map((raftId) => ({ raftId, host: "127.0.0.1", port: 5000 })),
      ],
      newId: () => `node${++ids}`,
      newRaftId: () => 100 + ids,
      log: createLogger("test", { write: () => {} }),
    });
  const service = newService();
  const client = broker.client();
  const ask = async (
    body: Omit<MessageBodies["joinRequest"], "token" | "publicKey" | "proof"> & {
      token: string;
    },
    o: { reqId?: string; key?: ReturnType<typeof generateKeyPair>; raw?: Uint8Array } = {},
  ): Promise<MessageBodies["joinResponse"]> => {
    const reqId = o.reqId ?? `join-${randomBytes(8).toString("hex")}`;
    const t = topics(clusterId);
    const key = o.key ?? generateKeyPair("ed25519", new Uint8Array(randomBytes(32)));
    const answer = new Promise<MessageBodies["joinResponse"]>((resolve) => {
      void client.subscribe(t.joinResponse(reqId), (_topic, payload) => {
        const d = decodeMessage(payload, "joinResponse");
        assert.ok(d.ok);
        resolve(d.message);
      });
    });
    const payload =
      o.raw ??
      encodeMessage("joinRequest", { ...body, ...signJoinRequest(key, body.token, reqId) });
    await new Promise((r) => setTimeout(r, 0));
    await client.publish(t.joinRequest(reqId), payload, { qos: 1, retain: false });
    return answer;
  };
  return { store, writer, ca, tokens, service, newService, ask, learners, failLearner };
}

test("a worker joins: a certificate from the cluster root, its key hash remembered", async () => {
  const w = world();
  await w.service.start();
  const r = await w.ask({ token: w.tokens.worker, description });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.role, "worker");
  assert.equal(r.clusterId, "c1");
  const cert = parseCertificate(r.certPem!);
  assert.ok(isSignedBy(cert, w.ca.root.cert));
  assert.equal(cert.subject.commonName, r.nodeId);
  assert.equal(cert.subject.organizationalUnit, "worker");
  assert.equal(w.store.view((tx) => tx.get("clusters", "c1"))!.joinedKeys!.length, 1);
  // A Node "unknown" until its hello, holding the serial (`node rm` revokes it); no Raft change.
  const nodes = w.store.view((tx) => tx.find("nodes"));
  assert.deepEqual(
    nodes.map((n) => [n.id, n.spec.role, n.status.state, n.certificate?.serial]),
    [[r.nodeId, "worker", "unknown", cert.serial]],
  );
  assert.deepEqual(w.learners, []);
  await w.service.stop();
});

test("a manager joins: its Node, a Raft id, the members, a learner added", async () => {
  const w = world();
  await w.service.start();
  const r = await w.ask({
    token: w.tokens.manager,
    description,
    manager: { raftAddr: "127.0.0.1:5000", brokerAddr: "127.0.0.1:5001" },
  });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.role, "manager");
  assert.equal(typeof r.raftId, "number");
  assert.deepEqual(w.learners, [r.raftId]);
  assert.ok((r.members as { raftId: number }[]).some((m) => m.raftId === r.raftId));
  const node = w.store.view((tx) => tx.get("nodes", r.nodeId!))!;
  assert.equal(node.spec.role, "manager");
  assert.equal(node.managerStatus?.addr, "127.0.0.1:5000");
  assert.equal(node.status.state, "unknown");
  assert.ok(parseCertificate(r.certPem!).ipAddresses.includes("127.0.0.1"));
  await w.service.stop();
});

test("refusals are typed and write nothing", async () => {
  const w = world();
  await w.service.start();
  const other = world("c2");
  const before = w.store.index;
  const foreign = await w.ask({ token: other.tokens.worker, description });
  assert.deepEqual([foreign.ok, foreign.code], [false, "ca-mismatch"]);
  const digest = parseJoinToken(w.tokens.worker).caDigest;
  const wrong = await w.ask({ token: `FLT1-${digest}-${"ab".repeat(16)}`, description });
  assert.deepEqual([wrong.ok, wrong.code], [false, "wrong-token"]);
  const garbage = await w.ask(
    { token: w.tokens.worker, description },
    { raw: new Uint8Array([1, 2, 3]) },
  );
  assert.deepEqual([garbage.ok, garbage.code], [false, "bad-request"]);
  const noAddr = await w.ask({ token: w.tokens.manager, description });
  assert.equal(noAddr.ok, false);
  assert.match(noAddr.error!, /without the manager's addresses/);
  const workerAsManager = await w.ask({
    token: w.tokens.worker,
    description,
    manager: { raftAddr: "127.0.0.1:5000", brokerAddr: "127.0.0.1:5001" },
  });
  assert.deepEqual([workerAsManager.ok, workerAsManager.code], [false, "wrong-token"]);
  assert.match(workerAsManager.error!, /worker join token/);
  assert.equal(w.store.index, before, "no write for a refused join");
  await w.service.stop();
});

test("a replayed request and a rotated-away token are refused", async () => {
  const w = world();
  await w.service.start();
  const key = generateKeyPair("ed25519", new Uint8Array(randomBytes(32)));
  const first = await w.ask({ token: w.tokens.worker, description }, { key, reqId: "join-a" });
  assert.equal(first.ok, true);
  const again = await w.ask({ token: w.tokens.worker, description }, { key, reqId: "join-a" });
  assert.deepEqual([again.ok, again.code], [false, "replayed"]);
  await w.service.stop();
  // A new leader's service refuses it too: the memory is in the store, not in the service.
  const next = w.newService();
  await next.start();
  const replay = await w.ask({ token: w.tokens.worker, description }, { key, reqId: "join-a" });
  assert.deepEqual([replay.ok, replay.code], [false, "replayed"]);
  const rotated = await new StoreTokenSource(w.store, w.writer, "c1").rotate("worker");
  assert.notEqual(rotated.worker, w.tokens.worker);
  assert.equal(rotated.manager, w.tokens.manager);
  const old = await w.ask({ token: w.tokens.worker, description });
  assert.deepEqual([old.ok, old.code], [false, "wrong-token"]);
  const fresh = await w.ask({ token: rotated.worker, description });
  assert.equal(fresh.ok, true, fresh.error);
  await next.stop();
});

test("a manager that could not be added to Raft is told to retry and leaves no Node", async () => {
  const w = world();
  await w.service.start();
  w.failLearner.on = true;
  const r = await w.ask({
    token: w.tokens.manager,
    description,
    manager: { raftAddr: "127.0.0.1:5000", brokerAddr: "127.0.0.1:5001" },
  });
  assert.deepEqual([r.ok, r.retry], [false, true]);
  assert.equal(w.store.view((tx) => tx.find("nodes")).length, 0);
  await w.service.stop();
});
