// Re-enrolment after expiry in external broker mode: a secure manager (ManagerDaemon, in
// process) whose leader talks only through a real mosquitto configured by `fleet broker-config
// mosquitto`, and an agent (startAgent, in-memory executor) joined through mosquitto's join
// listener and running a task. The agent stops; its certificate is replaced by one of the same
// node and key that expired two hours ago (signed with the root key from the store). mosquitto
// refuses that certificate in the handshake, so the restarted agent re-enrols through the join
// listener (joinBrokers), reconnects to the certificate listener with the new certificate and
// keeps its task: same container, nothing recreated, the new serial recorded on the node.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { issueCertificate, loadRootCA } from "../../core/crypto/identity.ts";
import { privateKeyFromPem } from "../../core/crypto/keys.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import type { AgentConfig } from "../../edge-agent/config.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { joinCluster } from "../../edge-agent/join/client.ts";
import { certPaths } from "../../edge-agent/renewal.ts";
import { fleet } from "../../manager/cli/testing.ts";
import { parseManagerConfig } from "../../manager/config.ts";
import { ManagerDaemon } from "../../manager/daemon.ts";
import { createLogger } from "../../manager/log.ts";
import { canConnect, freePort, need } from "../support/real.ts";

const HOUR_MS = 3_600_000;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000 && !(await ok()); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("external broker: an agent offline past expiry re-enrols through the join listener", async (t) => {
  if (!need(t, "mosquitto")) return;
  const dir = mkdtempSync(join(tmpdir(), "fleet-reenrol-ext-"));
  const [port, joinPort, raftPort, brokerPort] = await Promise.all(
    Array.from({ length: 4 }, () => freePort()),
  );
  const socket = join(dir, "fleet.sock");
  const logs: string[] = [];
  const log = createLogger("manager", { level: "info", write: (l) => logs.push(l) });
  const manager = new ManagerDaemon(
    parseManagerConfig([
      ...["--data-dir", join(dir, "m1"), "--init", "--listen-addr", "127.0.0.1"],
      ...["--advertise-addr", "127.0.0.1", "--raft-port", String(raftPort)],
      ...["--broker-port", String(brokerPort), "--api-socket", socket, "--tick-ms", "50"],
      ...["--broker", `mqtts://127.0.0.1:${port}`],
    ]),
    log,
  );
  let mosquitto: ChildProcess | undefined;
  let agent: Agent | undefined;
  const agentLog: string[] = [];
  const api = async (method: string, url: string, body?: unknown) =>
    (await manager.api.handle({
      method,
      url,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })) as { status: number; body: Record<string, unknown> };
  try {
    await manager.start();
    await until("the CA", async () => (await api("GET", "/v1/join-tokens")).status === 200);
    const mq = join(dir, "mosquitto");
    const bc = await fleet(
      ["broker-config", "mosquitto", "--out", mq, "--port", String(port)].concat([
        "--join-port",
        String(joinPort),
        "--bind",
        "127.0.0.1",
      ]),
      { socket },
    );
    assert.equal(bc.code, 0, bc.stderr);
    appendFileSync(join(mq, "mosquitto.conf"), `user ${userInfo().username}\n`);
    mosquitto = spawn("mosquitto", ["-c", join(mq, "mosquitto.conf")], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    await until(
      "mosquitto up",
      async () => (await canConnect(port)) && canConnect(joinPort),
      10_000,
    );

    const joinUrl = `mqtts://127.0.0.1:${joinPort}`;
    const tokens = (await api("GET", "/v1/join-tokens")).body as { worker: string };
    const joined = await joinCluster({
      token: tokens.worker,
      managers: [joinUrl],
      description: {
        hostname: "board-1",
        platform: { os: "linux", arch: "amd64" },
        resources: { nanoCPUs: 1e9, memoryBytes: 1e9 },
        engineLabels: {},
      },
      expectRole: "worker",
      rounds: 10,
    });
    const agentDir = join(dir, "agent");
    mkdirSync(join(agentDir, "certs"), { recursive: true });
    const paths = certPaths(agentDir);
    writeFileSync(paths.ca, joined.caPem);
    writeFileSync(paths.cert, joined.certPem);
    writeFileSync(paths.key, joined.keyPem, { mode: 0o600 });
    const ex = new MemoryExecutor();
    ex.images.add("busybox:latest");
    const config: AgentConfig = {
      dataDir: agentDir,
      clusterId: joined.clusterId,
      nodeId: joined.nodeId,
      brokers: [`mqtts://127.0.0.1:${port}`],
      // What `edge-agent join` writes for an address that is not one of the cluster's brokers.
      joinBrokers: [joinUrl],
      hostname: "board-1",
      labels: {},
      heartbeatPeriodMs: 1000,
      offlineAfterMs: 60_000,
      pollIntervalMs: 200,
      tls: { certFile: paths.cert, keyFile: paths.key, caFile: paths.ca },
    };
    const run = () => startAgent(config, ex, { log: (l) => agentLog.push(l) });
    agent = run();
    const created = await api("POST", "/v1/services/create", {
      name: "web",
      mode: { replicated: { replicas: 1 } },
      taskTemplate: { containerSpec: { image: "busybox", args: ["sleep", "300"] } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const first = agent;
    await until("the task running", () => first.worker.runningCount() === 1);
    const ids = (await ex.list({})).map((c) => c.id);
    await first.stop();
    agent = undefined;

    // Offline; its certificate expired two hours ago (same node, same key).
    const cluster = manager.store.view((tx) => tx.get("clusters", joined.clusterId));
    const rootKey = privateKeyFromPem(cluster!.rootCA!.keyPem);
    const root = loadRootCA(cluster!.rootCA!.certPem, rootKey);
    const stale = issueCertificate({
      ca: root,
      clusterId: joined.clusterId,
      nodeId: joined.nodeId,
      role: "worker",
      publicKey: privateKeyFromPem(joined.keyPem).publicKey,
      serialRandom: new Uint8Array(randomBytes(16)),
      nowMs: Date.now() - 3 * HOUR_MS,
      expiryMs: HOUR_MS,
    });
    writeFileSync(paths.cert, stale.certPem);

    agent = run();
    const back = agent;
    await until("re-enrolled and connected to the certificate listener", () => {
      const c = parseCertificate(readFileSync(paths.cert, "utf8"));
      return c.serial !== stale.serial && back.session.broker !== undefined;
    });
    assert.ok(agentLog.some((l) => l.includes("re-enrolled through the join listener")));
    assert.ok(logs.some((l) => l.includes("node re-enrolled")));
    await until("the task running again", () => back.worker.runningCount() === 1);
    assert.deepEqual(
      (await ex.list({})).map((c) => c.id),
      ids,
      "the same container",
    );
    assert.equal(ex.calls.create, 1, "nothing recreated");
    const serial = parseCertificate(readFileSync(paths.cert, "utf8")).serial;
    await until("the new serial recorded on the node", async () => {
      const n = (await api("GET", `/v1/nodes/${joined.nodeId}`)).body as {
        certificate?: { serial: string };
      };
      return n.certificate?.serial === serial;
    });
  } catch (err) {
    console.error(
      logs
        .filter((l) => !l.includes("level=debug"))
        .slice(-40)
        .join("\n"),
    );
    console.error(agentLog.slice(-30).join("\n"));
    throw err;
  } finally {
    await agent?.stop();
    await manager.stop();
    if (mosquitto && mosquitto.exitCode === null) {
      const p = mosquitto;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
