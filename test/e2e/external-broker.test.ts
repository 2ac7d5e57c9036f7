// External broker mode: a secure manager whose leader talks to the fleet only through a real
// mosquitto configured by `fleet broker-config mosquitto` (TLS 1.3, client certificates, per-node
// ACL, a join listener). An agent joins through mosquitto's join listener by token, connects to
// its certificate listener, runs the task the scheduler gives it, and renews its certificate
// through mosquitto while the container keeps running. In-process manager (ManagerDaemon) and
// agent (startAgent, in-memory executor); mosquitto started and stopped by pid.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { joinCluster } from "../../edge-agent/join/client.ts";
import { certPaths } from "../../edge-agent/renewal.ts";
import { fleet } from "../../manager/cli/testing.ts";
import { parseManagerConfig } from "../../manager/config.ts";
import { ManagerDaemon } from "../../manager/daemon.ts";
import { createLogger } from "../../manager/log.ts";
import { freePort, need } from "../support/real.ts";

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1");
  });
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000 && !(await ok()); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a secure cluster through an external mosquitto: join, run, renew", async (t) => {
  if (!need(t, "mosquitto")) return;
  const dir = mkdtempSync(join(tmpdir(), "fleet-extbroker-"));
  const [port, joinPort, raftPort, brokerPort] = await Promise.all(
    Array.from({ length: 4 }, () => freePort()),
  );
  const socket = join(dir, "fleet.sock");
  const logs: string[] = [];
  const log = createLogger("manager", { level: "info", write: (l) => logs.push(l) });
  const flags = (init: boolean) =>
    parseManagerConfig([
      "--data-dir",
      join(dir, "m1"),
      ...(init ? ["--init"] : []),
      "--listen-addr",
      "127.0.0.1",
      "--advertise-addr",
      "127.0.0.1",
      "--raft-port",
      String(raftPort),
      "--broker-port",
      String(brokerPort),
      "--api-socket",
      socket,
      "--tick-ms",
      "50",
      "--broker",
      `mqtts://127.0.0.1:${port}`,
    ]);
  const manager = new ManagerDaemon(flags(true), log);
  let mosquitto: ChildProcess | undefined;
  let agent: Agent | undefined;
  const api = async (method: string, url: string, body?: unknown) => {
    const r = await manager.api.handle({
      method,
      url,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return r as { status: number; body: Record<string, unknown> & { [k: string]: unknown } };
  };
  try {
    await manager.start();
    await until(
      "the CA in the store",
      async () => (await api("GET", "/v1/join-tokens")).status === 200,
    );

    // The operator writes mosquitto's configuration from the running manager, starts it.
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
    // Test only: stay the current user (as root mosquitto would switch to `mosquitto`).
    appendFileSync(join(mq, "mosquitto.conf"), `user ${userInfo().username}\n`);
    let mlog = "";
    mosquitto = spawn("mosquitto", ["-c", join(mq, "mosquitto.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    mosquitto.stderr?.on("data", (d) => {
      mlog += String(d);
    });
    await until(
      `mosquitto up (${mlog})`,
      async () => (await canConnect(port)) && canConnect(joinPort),
      10_000,
    );
    // The leader started while mosquitto was down; its bus keeps trying and connects now.
    assert.ok(
      logs.some((l) => l.includes("broker unreachable; retrying")),
      "the leader came up before the broker (its bus retries)",
    );

    // An agent joins through mosquitto's join listener with the worker token.
    const tokens = (await api("GET", "/v1/join-tokens")).body as { worker: string };
    const joined = await joinCluster({
      token: tokens.worker,
      managers: [`mqtts://127.0.0.1:${joinPort}`],
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
    agent = startAgent(
      {
        dataDir: agentDir,
        clusterId: joined.clusterId,
        nodeId: joined.nodeId,
        brokers: [`mqtts://127.0.0.1:${port}`],
        hostname: "board-1",
        labels: {},
        heartbeatPeriodMs: 1000,
        offlineAfterMs: 60_000,
        pollIntervalMs: 200,
        tls: { certFile: paths.cert, keyFile: paths.key, caFile: paths.ca },
      },
      ex,
      { log: () => {} },
    );
    const created = await api("POST", "/v1/services/create", {
      name: "web",
      mode: { replicated: { replicas: 1 } },
      taskTemplate: { containerSpec: { image: "busybox", args: ["sleep", "300"] } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const a = agent;
    await until("the task running on the agent", () => a.worker.runningCount() === 1);
    const ids = (await ex.list({})).map((c) => c.id);

    // Renewal through mosquitto: new certificate, reconnected, the same container.
    a.renewal!.renewNow();
    await until(
      "renewed and reconnected",
      () =>
        a.renewal!.stats.renewed === 1 &&
        a.session.stats.connects >= 2 &&
        a.session.broker !== undefined,
    );
    assert.deepEqual(
      (await ex.list({})).map((c) => c.id),
      ids,
    );
    assert.equal(ex.calls.create, 1);
    await until("the new serial recorded on the node", async () => {
      const n = (await api("GET", `/v1/nodes/${joined.nodeId}`)).body as {
        certificate?: { serial: string };
      };
      return n.certificate?.serial !== undefined && a.renewal!.stats.renewed === 1;
    });
  } catch (err) {
    console.error(
      logs
        .filter((l) => !l.includes("level=debug"))
        .slice(-40)
        .join("\n"),
    );
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
