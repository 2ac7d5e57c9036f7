// The agent learns the cluster's re-enrolment window from its assignment and keeps it: a real
// agent (startAgent, in-memory executor) on the embedded secure broker (SecurityDeps from the
// store, as the daemon's), a stand-in leader answering each hello with the dispatcher's own
// buildAssignment from the store. `fleet cluster update --reenrol-window 48h` (through the API's
// router) reaches the agent, which writes it to <data-dir>/reenrol-window.json. Restarted with
// its certificate expired 5 days ago, the agent refuses to start ("join again": JoinError
// expired) under that 48 h window, and under a 10-day one starts and is admitted by the same
// broker to a re-enrolment session. No manager restarts in between.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeMessage } from "../../core/codec/index.ts";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { parseNodeTopic, topics } from "../../core/topics.ts";
import { type Agent, startAgent } from "../../edge-agent/agent.ts";
import { MemoryExecutor } from "../../edge-agent/executor/memory.ts";
import { JoinError } from "../../edge-agent/join/errors.ts";
import { certPaths, REENROL_WINDOW_FILE } from "../../edge-agent/renewal.ts";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { securityDeps } from "../daemon-security.ts";
import { buildAssignment } from "../dispatcher/assignments.ts";
import { brokerSecurity, type NodeTls } from "../secure.ts";
import { recordingLogger, TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

const T = topics("c1");
const cluster = new TestCluster("c1");
const manager = cluster.issue("mgr1", "manager", { ipAddresses: ["127.0.0.1"] });
const w = testWorld();
const api = new ApiServer(w.ctx, {});
const dir = mkdtempSync(join(tmpdir(), "fleet-window-agent-"));
let broker: Broker;
let version = 1;

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const assign = (nodeId: string) =>
  broker.publish(
    T.assign(nodeId),
    Buffer.from(
      encodeMessage(
        "assign",
        w.store.view((tx) => buildAssignment(tx, nodeId, version++)),
      ),
    ),
    { qos: 1, retain: true },
  );

before(async () => {
  const sec = securityDeps(w.store, "c1", () => manager, recordingLogger(cluster.log));
  const { tls, authorizer } = brokerSecurity(sec);
  broker = await Broker.start({ id: "mgr1", tls, authorizer });
  await broker.subscribe(
    `${T.root}/n/+/hello`,
    (m) => void assign(parseNodeTopic(m.topic)!.nodeId),
  );
});
after(async () => {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

function install(tls: NodeTls): string {
  const p = certPaths(dir);
  mkdirSync(join(dir, "certs"), { recursive: true });
  writeFileSync(p.ca, tls.caPem);
  writeFileSync(p.cert, tls.certPem);
  writeFileSync(p.key, tls.keyPem, { mode: 0o600 });
  return dir;
}

function agent(logs: string[]): Agent {
  const p = certPaths(dir);
  const ex = new MemoryExecutor();
  return startAgent(
    {
      dataDir: dir,
      clusterId: "c1",
      nodeId: "w1",
      brokers: [`mqtts://127.0.0.1:${broker.port}`],
      hostname: "w1.example",
      labels: {},
      heartbeatPeriodMs: 1000,
      offlineAfterMs: 60_000,
      pollIntervalMs: 200,
      gossip: false,
      tls: { certFile: p.cert, keyFile: p.key, caFile: p.ca },
    },
    ex,
    { log: (l) => logs.push(l) },
  );
}

async function setWindow(ms: number): Promise<void> {
  const c = w.store.view((tx) => tx.get("clusters", "c1"))!;
  const r = await call(api, "POST", `/v1/cluster/update?version=${c.version}`, {
    ...c.spec,
    reenrolWindowMs: ms,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

const kept = () =>
  JSON.parse(readFileSync(join(dir, REENROL_WINDOW_FILE), "utf8")).reenrolWindowMs as number;

/** An agent online with a valid certificate until it has learned `ms` from an assignment. */
async function learn(ms: number): Promise<string[]> {
  install(cluster.issue("w1", "worker"));
  const logs: string[] = [];
  const a = agent(logs);
  try {
    await until("connected", () => logs.some((l) => l.includes("session: connected")));
    await setWindow(ms);
    await assign("w1"); // the dispatcher republishes every assignment on a window change
    await until(`the window ${ms}`, () => a.renewal?.reenrolWindowMs === ms);
    assert.equal(kept(), ms);
  } finally {
    await a.stop();
  }
  return logs;
}

/** Back after 5 days offline past expiry (same key). */
const expiredFiveDaysAgo = () =>
  install(
    cluster.issue("w1", "worker", { nowMs: Date.now() - 95 * DAY_MS, expiryMs: 90 * DAY_MS }),
  );

test("the agent learns the window from its assignment, keeps it, and gives up past it", async () => {
  const logs = await learn(2 * DAY_MS);
  assert.ok(
    logs.some((l) => l.includes("re-enrolment window is 48 h")),
    logs.join("\n"),
  );
  expiredFiveDaysAgo();
  assert.throws(
    () => agent([]),
    (e: unknown) => e instanceof JoinError && e.code === "expired" && /join again/.test(e.message),
  );
  assert.ok(!cluster.logged("re-enrolment session admitted"));

  // Lengthened (and learned) before the node went offline: it re-enrols.
  await learn(10 * DAY_MS);
  expiredFiveDaysAgo();
  const b = agent([]);
  try {
    assert.equal(b.renewal?.reenrolling(), true);
    await until("the broker admits the re-enrolment session", () =>
      cluster.logged("re-enrolment session admitted"),
    );
  } finally {
    await b.stop();
  }
});
