// Certificate rotation end to end through a real broker: a mosquitto configured by
// `mosquittoConfig` (TLS 1.3, client certificates required, per-node ACL), real agents
// (startAgent: session + worker on the in-memory executor) holding certificates from the
// cluster CA, and the leader's RenewalService on an MqttBus with a manager certificate. Agents
// renew (new key, csr, cert, atomic files, session reconnect with the new certificate) while
// their containers keep running: the container ids do not change and nothing is recreated.
// Started and stopped by pid; files in a temp dir removed.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { privateKeyFromPem, privateKeyToPem } from "../../core/crypto/keys.ts";
import { DAY_MS, testKey } from "../../core/crypto/testing.ts";
import { parseNodeTopic, topics } from "../../core/topics.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { certPaths } from "../../edge-agent/renewal.ts";
import { task } from "../../edge-agent/worker/testing.ts";
import { freePort, need, type RunningMosquitto, runMosquitto } from "../../test/support/real.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";
import { CertificateAuthority, type NodeRecord } from "./ca.ts";
import { mosquittoConfig } from "./mosquitto-config.ts";
import { RenewalService } from "./renewal-service.ts";

const CLUSTER = "c1";
const IMAGE = "busybox:latest";

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000 && !ok(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), "fleet-renew-"));
  readonly ca = CertificateAuthority.create({ clusterId: CLUSTER }).ca;
  readonly nodes = new Map<string, NodeRecord>();
  port = 0;
  #mosquitto: RunningMosquitto | undefined;

  /** cert, key and ca files for an identity, under `<dir>/<id>/certs` (contract 1). */
  material(id: string, role: "worker" | "manager", expiryMs = this.ca.nodeCertExpiryMs) {
    const key = testKey(`renew:${id}`);
    const issued = this.ca.issue(id, role, key.publicKey, { ipAddresses: ["127.0.0.1"] }, expiryMs);
    const paths = certPaths(join(this.dir, id));
    mkdirSync(join(this.dir, id, "certs"), { recursive: true });
    writeFileSync(paths.ca, this.ca.root.certPem);
    writeFileSync(paths.cert, issued.certPem);
    writeFileSync(paths.key, privateKeyToPem(key), { mode: 0o600 });
    if (role === "worker") this.nodes.set(id, { role });
    return { paths, issued, key };
  }

  async start(): Promise<void> {
    const broker = this.material("broker", "manager").paths;
    this.port = await freePort();
    const { conf, acl } = mosquittoConfig({
      clusterId: CLUSTER,
      port: this.port,
      bindAddress: "127.0.0.1",
      caFile: broker.ca,
      certFile: broker.cert,
      keyFile: broker.key,
      aclFile: join(this.dir, "acl"),
      managers: ["m1"],
      admins: [],
    });
    writeFileSync(join(this.dir, "mosquitto.conf"), `${conf}user ${userInfo().username}\n`);
    writeFileSync(join(this.dir, "acl"), acl);
    this.#mosquitto = await runMosquitto(join(this.dir, "mosquitto.conf"), [this.port]);
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.#mosquitto?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The leader's side: answers hellos with a one-task assignment, and renews certificates. */
async function leader(c: Cluster) {
  const m1 = c.material("m1", "manager").paths;
  const tls = {
    ca: readFileSync(m1.ca),
    cert: readFileSync(m1.cert),
    key: readFileSync(m1.key),
    rejectUnauthorized: true,
  };
  const bus = await MqttBus.connect({ url: c.url, clientId: "m1-leader", mqtt: tls });
  const t = topics(CLUSTER);
  await bus.subscribe(`${t.root}/n/+/hello`, (topic) => {
    const nodeId = parseNodeTopic(topic)!.nodeId;
    const tasks = [task(`task-${nodeId}`, { image: IMAGE, args: ["sleep", "300"] })];
    const body = encodeMessage("assign", { version: 1, tasks });
    void bus.publish(t.assign(nodeId), body, { qos: 1, retain: true });
  });
  const service = new RenewalService({
    bus,
    clusterId: CLUSTER,
    ca: () => c.ca,
    node: (id) => c.nodes.get(id),
    minIntervalMs: 0, // the second renewal below follows the first at once
  });
  await service.start();
  return { bus, service };
}

async function containerIds(ex: MemoryExecutor): Promise<string[]> {
  return (await ex.list({})).map((i) => i.id).sort();
}

test("agents renew through a real mosquitto; containers keep running, ids unchanged", async (t) => {
  if (!need(t, "mosquitto")) return;
  const c = new Cluster();
  const agents: { id: string; agent: Agent; ex: MemoryExecutor; serial: string }[] = [];
  let lead: Awaited<ReturnType<typeof leader>> | undefined;
  try {
    await c.start();
    lead = await leader(c);
    // Twelve agents; the last is removed before it renews.
    const ids = Array.from({ length: 12 }, (_, i) => `w${i + 1}`);
    for (const id of ids) {
      const { paths, issued } = c.material(id, "worker");
      const ex = new MemoryExecutor();
      ex.images.add(IMAGE);
      const agent = startAgent(
        {
          dataDir: join(c.dir, id),
          clusterId: CLUSTER,
          nodeId: id,
          brokers: [c.url],
          hostname: id,
          labels: {},
          heartbeatPeriodMs: 1000,
          offlineAfterMs: 60_000,
          pollIntervalMs: 200,
          tls: { certFile: paths.cert, keyFile: paths.key, caFile: paths.ca },
        },
        ex,
        { log: () => {} },
      );
      agents.push({ id, agent, ex, serial: issued.serial });
    }
    for (const a of agents)
      await until(`${a.id} running its task`, () => a.agent.worker.runningCount() === 1);
    const before = await Promise.all(agents.map((a) => containerIds(a.ex)));
    const creates = agents.map((a) => a.ex.calls.create ?? 0);
    assert.ok(
      agents.every((a) => a.agent.renewal),
      "renewal is on for agents with certificates",
    );

    // The last agent is removed from the cluster before it renews: its certificate is revoked.
    const removed = agents.at(-1)!;
    const paths0 = certPaths(join(c.dir, removed.id));
    const certR = parseCertificate(readFileSync(paths0.cert, "utf8"));
    c.ca.removeNode(removed.id, [{ serial: certR.serial, notAfterMs: certR.notAfterMs }]);
    c.nodes.delete(removed.id);

    // All at once (the worst case: an expiry change), while their containers run.
    for (const a of agents) a.agent.renewal!.renewNow();
    const renewing = agents.slice(0, -1);
    for (const a of renewing)
      await until(
        `${a.id} renewed and reconnected`,
        () =>
          a.agent.renewal!.stats.renewed === 1 &&
          a.agent.session.stats.connects >= 2 &&
          a.agent.session.broker !== undefined,
      );
    await until("the removed node refused", () => (lead!.service.stats.refused.revoked ?? 0) >= 1);
    assert.equal(removed.agent.renewal!.stats.renewed, 0);

    for (const [i, a] of renewing.entries()) {
      const paths = certPaths(join(c.dir, a.id));
      const onDisk = parseCertificate(readFileSync(paths.cert, "utf8"));
      assert.notEqual(onDisk.serial, a.serial, `${a.id} holds a new certificate`);
      assert.deepEqual(
        privateKeyFromPem(readFileSync(paths.key, "utf8")).publicKey,
        onDisk.publicKey,
        `${a.id}: node.key matches node.pem`,
      );
      assert.notDeepEqual(onDisk.publicKey, testKey(`renew:${a.id}`).publicKey, "a new key");
      assert.deepEqual(await containerIds(a.ex), before[i], `${a.id}: same containers`);
      assert.equal(a.ex.calls.create ?? 0, creates[i], `${a.id}: nothing recreated`);
      assert.equal(a.agent.worker.runningCount(), 1);
    }
    assert.equal(lead.service.stats.issued, renewing.length);

    // The old certificate no longer matters to the agent; a renewed one renews again.
    const w1 = agents[0]!;
    w1.agent.renewal!.renewNow();
    await until("w1's second renewal", () => w1.agent.renewal!.stats.renewed === 2);
    await until("w1 reconnected again", () => w1.agent.session.stats.connects >= 3);
    assert.ok(w1.agent.renewal!.notAfterMs > Date.now() + 80 * DAY_MS);
  } finally {
    for (const a of agents) await a.agent.stop();
    await lead?.service.stop();
    await lead?.bus.close();
    await c.stop();
  }
});
