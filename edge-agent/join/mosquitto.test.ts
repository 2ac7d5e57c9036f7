// The join client against a real broker that is not fleet's: Debian's mosquitto with a TLS 1.3
// listener presenting a manager certificate and the root (Ed25519 and P-256 clusters), and a
// responder (core/crypto) on its plain loopback listener. Pinning works on the chain mosquitto
// presents; another CA's chain is refused before CONNECT.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import mqtt from "mqtt";
import { decodeMessage, encodeMessage } from "../../core/codec/messages.ts";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { testBytes, testNodeCert, testRoot } from "../../core/crypto/testing.ts";
import { formatJoinToken } from "../../core/crypto/token.ts";
import { topics } from "../../core/topics.ts";
import { answerJoin } from "../../test/support/join-standin.ts";
import { freePort, type Mosquitto, need, startMosquitto } from "../../test/support/real.ts";
import { joinCluster } from "./client.ts";
import { JoinError } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-join-mosquitto-"));
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const description = {
  hostname: "b",
  platform: { os: "linux", arch: "x64" },
  resources: { nanoCPUs: 1e9, memoryBytes: 1e9 },
  engineLabels: {},
};

for (const curve of ["ed25519", "p256"] as const) {
  test(`mosquitto (${curve}): pinned join through a foreign broker; another CA refused`, async (t) => {
    if (!need(t, "mosquitto")) return;
    const root = testRoot(`mq-${curve}`, curve);
    const tokens = {
      worker: formatJoinToken(root.digest, testBytes(`mq-w-${curve}`, 16)),
      manager: formatJoinToken(root.digest, testBytes(`mq-m-${curve}`, 16)),
    };
    const leaf = testNodeCert(root, "mq-manager", "manager", { nowMs: Date.now() });
    const files = join(dir, curve);
    const chain = `${files}-chain.pem`;
    const key = `${files}-key.pem`;
    writeFileSync(chain, leaf.certPem + root.certPem);
    writeFileSync(key, privateKeyToPem(leaf.key), { mode: 0o600 });
    const tlsPort = await freePort();
    const m: Mosquitto = await startMosquitto(
      `listener ${tlsPort} 127.0.0.1\ncertfile ${chain}\nkeyfile ${key}\ntls_version tlsv1.3\nuser ${userInfo().username}\n`,
    );
    cleanup.push(() => m.stop());
    // The responder, as a manager would: on the plain loopback listener.
    const t0 = topics(root.cert.subject.organization);
    const responder = await mqtt.connectAsync(`mqtt://127.0.0.1:${m.port}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    cleanup.push(() => responder.endAsync());
    let n = 0;
    responder.on("message", (topic, payload) => {
      const requestId = topic.split("/")[3] as string;
      const d = decodeMessage(new Uint8Array(payload), "joinRequest");
      if (!d.ok) return;
      const { v: _, type: __, ...body } = d.message;
      const answer = answerJoin(root, tokens, { requestId, body }, `mq-node-${++n}`);
      responder.publish(
        t0.joinResponse(requestId),
        Buffer.from(encodeMessage("joinResponse", answer)),
        {
          qos: 1,
        },
      );
    });
    await responder.subscribeAsync(t0.joinRequestFilter, { qos: 1 });

    const o = {
      managers: [`127.0.0.1:${tlsPort}`],
      description,
      connectTimeoutMs: 3000,
      responseTimeoutMs: 3000,
      rounds: 1,
    };
    const r = await joinCluster({ ...o, token: tokens.worker });
    assert.equal(r.clusterId, `mq-${curve}`);
    assert.equal(r.nodeId, "mq-node-1");
    // A token pinning another cluster's CA: refused on the chain, no request reaches anyone.
    const other = testRoot(`mq-other-${curve}`, curve);
    const foreign = formatJoinToken(other.digest, testBytes("x", 16));
    const err = await joinCluster({ ...o, token: foreign }).catch((e: unknown) => e);
    assert.ok(err instanceof JoinError && err.code === "ca-mismatch", String(err));
    assert.equal(n, 1);
  });
}
