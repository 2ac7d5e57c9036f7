// Re-enrolment after expiry, end to end: a real secure manager (the built bundle, founded with
// --init) and the bundled agent joined by token and running a container. The agent is stopped
// and its certificate replaced by one of the same node and key that expired two hours ago (the
// test signs it with the cluster's root key, read from the manager's Raft log on disk: the CA
// key lives in the replicated store). Brought back, the agent connects in the restricted mode,
// re-enrols (a new serial on disk, valid for the cluster's lifetime), reconnects normally and
// the node is ready again with the same container still running. A certificate past the window
// stops the agent with a typed error; a removed node's expired certificate and a past-window one
// are refused by the broker; mosquitto_pub with an in-window one may not publish a hello.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { issueCertificate, loadRootCA, type RootCA } from "../../core/crypto/identity.ts";
import { privateKeyFromPem } from "../../core/crypto/keys.ts";
import { ensureTestImage, need, removeTestContainers, TEST_LABEL } from "../support/real.ts";
import { buildBundle, docker, RUNNING, setHeartbeat } from "./agents.ts";
import { Managers } from "./managers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const VALUE = `reenrol-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-reenrol-"));
const c = new Managers({ bundle: true });
const procs: ChildProcess[] = [];
let nodeId = "";
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await c.close();
  removeTestContainers(VALUE);
  if (nodeId)
    for (const id of docker(["ps", "-aq", "--filter", `label=fleet.node.id=${nodeId}`])
      .split("\n")
      .filter(Boolean))
      docker(["rm", "-f", id]);
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  p: ChildProcess;
  out: () => string;
  exit: Promise<number>;
}

function spawnLogged(args: string[]): Proc {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let out = "";
  const add = (b: Buffer) => {
    out = (out + b).slice(-30_000);
  };
  p.stdout?.on("data", add);
  p.stderr?.on("data", add);
  const exit = new Promise<number>((r) => p.once("exit", (code) => r(code ?? -1)));
  return { p, out: () => out, exit };
}

/** The cluster's root CA with its key, found in the manager's Raft files (plain CBOR text). */
function rootFromDisk(dataDir: string, caPem: string): RootCA {
  const want = Buffer.from(parseCertificate(caPem).publicKey).toString("hex");
  const files = (d: string): string[] =>
    readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      const st = statSync(p);
      return st.isDirectory() ? files(p) : st.isFile() ? [p] : [];
    });
  const pem = /-----BEGIN PRIVATE KEY-----[A-Za-z0-9+/=\s]+?-----END PRIVATE KEY-----/g;
  for (const f of files(dataDir)) {
    for (const m of readFileSync(f, "latin1").matchAll(pem)) {
      const key = privateKeyFromPem(`${m[0]}\n`);
      if (Buffer.from(key.publicKey).toString("hex") === want) return loadRootCA(caPem, key);
    }
  }
  throw new Error(`no root CA key under ${dataDir}`);
}

/** A certificate of this node for its current key, issued at `issuedMs` for one hour. */
function expiredCert(ca: RootCA, data: string, issuedMs: number): { pem: string; serial: string } {
  const key = privateKeyFromPem(readFileSync(join(data, "certs", "node.key"), "utf8"));
  const issued = issueCertificate({
    ca,
    clusterId: ca.cert.subject.organization,
    nodeId,
    role: "worker",
    publicKey: key.publicKey,
    serialRandom: new Uint8Array(randomBytes(16)),
    nowMs: issuedMs,
    expiryMs: HOUR_MS,
  });
  return { pem: issued.certPem, serial: issued.serial };
}

type NodeRow = { id: string; status: { state: string } };
async function nodeState(): Promise<string | undefined> {
  const r = await c.api<NodeRow[]>(1, "GET", "/v1/nodes");
  return r.body.find((n) => n.id === nodeId)?.status.state;
}

/** Connects with this certificate: CONNACK accepted (true) or refused (false). */
function connects(port: number, data: string, certPem: string): Promise<boolean> {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: [readFileSync(join(data, "certs", "ca.pem"), "utf8")],
    cert: certPem,
    key: readFileSync(join(data, "certs", "node.key"), "utf8"),
    servername: "fleet-manager",
    clientId: `fleet-agent-${nodeId}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  return new Promise((resolve) => {
    client.once("connect", () => {
      client.end(true);
      resolve(true);
    });
    client.once("error", () => {
      client.end(true);
      resolve(false);
    });
    client.once("close", () => resolve(false));
  });
}

test("an agent offline past expiry re-enrols within the window; past it, it must join again", async (t) => {
  if (!need(t, "docker", "busybox", "mosquitto")) return;
  buildBundle();
  const image = ensureTestImage();
  await c.init(1);
  c.startInit(1);
  await c.leader(60_000);
  const port = c.members.get(1)!.brokerPort;
  const tokens = await c.waitFor(
    "the join tokens",
    async () => {
      const r = await c.api<{ worker?: string }>(1, "GET", "/v1/join-tokens");
      return r.status === 200 && r.body.worker ? r.body : undefined;
    },
    60_000,
  );
  await setHeartbeat(c, 1, 500);
  const data = join(dir, "board");
  const joined = spawnLogged([
    BUNDLE,
    "join",
    "--token",
    tokens.worker!,
    "--data-dir",
    data,
    `127.0.0.1:${port}`,
  ]);
  assert.equal(await joined.exit, 0, joined.out());
  nodeId = JSON.parse(readFileSync(join(data, "agent.json"), "utf8")).nodeId as string;
  const runAgent = () => spawnLogged([BUNDLE, "run", "--data-dir", data, "--poll-ms", "200"]);
  let agent = runAgent();
  const fail = (what: string) => (err: Error) =>
    assert.fail(`${what}: ${err.message}\n--- agent\n${agent.out().slice(-4000)}`);
  await c.waitFor("the node ready", async () => (await nodeState()) === "ready", 60_000);

  const created = await c.api<{ id: string }>(1, "POST", "/v1/services/create", {
    name: "kept",
    mode: { replicated: { replicas: 1 } },
    taskTemplate: {
      containerSpec: {
        image,
        command: ["sleep", "3600"],
        labels: { [TEST_LABEL]: VALUE },
        stopGracePeriodMs: 1000,
      },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const containers = () =>
    docker(["ps", "-q", "--no-trunc", "--filter", `label=fleet.node.id=${nodeId}`])
      .split("\n")
      .filter(Boolean);
  const before = await c
    .waitFor(
      "the container running",
      async () => (containers().length === 1 ? containers() : undefined),
      90_000,
    )
    .catch(fail("container"));

  // Offline; meanwhile its certificate expired two hours ago.
  agent.p.kill("SIGKILL");
  await agent.exit;
  await c.waitFor("the node down", async () => (await nodeState()) === "down", 30_000);
  const ca = rootFromDisk(
    c.members.get(1)!.dir,
    readFileSync(join(data, "certs", "ca.pem"), "utf8"),
  );
  const stale = expiredCert(ca, data, Date.now() - 3 * HOUR_MS);
  writeFileSync(join(data, "certs", "node.pem"), stale.pem);

  // Back: re-enrols, reconnects normally, ready again with the same container.
  agent = runAgent();
  await c
    .waitFor(
      "a new certificate on disk and the node ready",
      async () => {
        const cert = parseCertificate(readFileSync(join(data, "certs", "node.pem"), "utf8"));
        if (cert.serial === stale.serial || cert.notAfterMs < Date.now() + 80 * DAY_MS)
          return undefined;
        return (await nodeState()) === "ready" ? cert : undefined;
      },
      60_000,
    )
    .catch(fail("re-enrolment"));
  assert.match(agent.out(), /re-enrol only/);
  const log = c.members.get(1)!.log;
  assert.match(log, /re-enrolment session admitted/);
  assert.match(log, /node re-enrolled/);
  assert.deepEqual(containers(), before, "the same container, never restarted");
  const tasks = await c.api<{ nodeId: string; status: { state: number } }[]>(
    1,
    "GET",
    "/v1/tasks?service=kept",
  );
  assert.ok(tasks.body.some((x) => x.nodeId === nodeId && x.status.state === RUNNING));
  assert.ok(!log.includes(`re-enrolling ${nodeId} may not`), "the agent asked for nothing refused");

  agent.p.kill("SIGKILL");
  await agent.exit;

  // A restricted session: a hello with it is refused by the broker (real mosquitto_pub).
  {
    const certFile = join(dir, "stale.pem");
    writeFileSync(certFile, expiredCert(ca, data, Date.now() - 2 * HOUR_MS).pem);
    const pub = await new Promise<number>((resolve) => {
      const p = spawn("mosquitto_pub", [
        ...["-h", "127.0.0.1", "-p", String(port), "--cafile", join(data, "certs", "ca.pem")],
        ...["--cert", certFile, "--key", join(data, "certs", "node.key"), "--tls-version"],
        ...["tlsv1.3", "-i", `fleet-agent-${nodeId}`, "-q", "1"],
        ...["-t", `fleet/${ca.cert.subject.organization}/n/${nodeId}/hello`, "-m", "x"],
      ]);
      procs.push(p);
      p.once("exit", (code) => resolve(code ?? -1));
    });
    assert.notEqual(pub, 0, "mosquitto_pub: a hello on a re-enrolment session is refused");
    await c.waitFor(
      "the hello refused on the re-enrolment session",
      async () => c.members.get(1)!.log.includes(`re-enrolling ${nodeId} may not publish`),
      10_000,
    );
  }

  // Past the window (30 days): the agent stops with a typed error, the broker refuses.
  const ancient = expiredCert(ca, data, Date.now() - 31 * DAY_MS);
  assert.equal(await connects(port, data, ancient.pem), false, "past the window: refused");
  writeFileSync(join(data, "certs", "node.pem"), ancient.pem);
  const past = runAgent();
  assert.equal(await past.exit, 1, past.out());
  assert.match(past.out(), /join again with a token.*\[expired\]/s);
  await c.waitFor(
    "the refusal logged",
    async () => c.members.get(1)!.log.includes("past the re-enrolment window"),
    10_000,
  );

  // A removed node's certificate, expired within the window: refused (revoked with the node).
  const rm = await c.api(1, "DELETE", `/v1/nodes/${nodeId}?force=true`);
  assert.equal(rm.status, 200, JSON.stringify(rm.body));
  const removed = expiredCert(ca, data, Date.now() - 2 * HOUR_MS);
  assert.equal(await connects(port, data, removed.pem), false, "a removed node: refused");
  await c.waitFor(
    "the removal refusal logged",
    async () => c.members.get(1)!.log.includes(`node ${nodeId} was removed`),
    10_000,
  );
});
