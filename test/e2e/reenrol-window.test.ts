// The re-enrolment window as a cluster setting, end to end: a real secure manager (the built
// bundle, founded with --init) and a real MQTT client presenting a worker certificate that
// expired 5 days ago (the test signs it with the cluster's root key, read from the manager's
// Raft files on disk, as test/e2e/reenrol.test.ts does). Under the default window (30 days) the
// embedded broker admits it to a re-enrolment session; after `fleet cluster update
// --reenrol-window 48h` (the real CLI against the manager's API socket) the same broker refuses
// it with the reason logged; after `--reenrol-window 240h` it admits it again. The manager is
// never restarted.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { issueCertificate, loadRootCA, type RootCA } from "../../core/crypto/identity.ts";
import { generateKeyPair, privateKeyFromPem, privateKeyToPem } from "../../core/crypto/keys.ts";
import { buildBundle } from "./agents.ts";
import { Managers } from "./managers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(root, "dist/fleet.mjs");
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-window-"));
const c = new Managers({ bundle: true });
after(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

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

/** Connects with this certificate: CONNACK accepted (true) or refused (false). */
function connects(port: number, caPem: string, certPem: string, keyPem: string, id: string) {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: [caPem],
    cert: certPem,
    key: keyPem,
    servername: "fleet-manager",
    clientId: `fleet-agent-${id}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  return new Promise<boolean>((resolve) => {
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

test("a shortened window refuses at once what the default admitted; lengthened, admitted", async () => {
  buildBundle();
  await c.init(1);
  c.startInit(1);
  await c.leader(60_000);
  const m = c.members.get(1)!;
  const caPem = readFileSync(join(m.dir, "certs", "ca.pem"), "utf8");
  const ca = rootFromDisk(m.dir, caPem);
  const key = generateKeyPair("ed25519", new Uint8Array(randomBytes(32)));
  const nodeId = "wwindow0000000000000000001";
  const cert = issueCertificate({
    ca,
    clusterId: ca.cert.subject.organization,
    nodeId,
    role: "worker",
    publicKey: key.publicKey,
    serialRandom: new Uint8Array(randomBytes(16)),
    nowMs: Date.now() - 5 * DAY_MS - HOUR_MS,
    expiryMs: HOUR_MS,
  }).certPem;
  const attempt = () => connects(m.brokerPort, caPem, cert, privateKeyToPem(key), nodeId);
  const fleet = (...args: string[]) => {
    const env = { ...process.env, FLEET_HOST: `unix://${join(m.dir, "fleet.sock")}` };
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env });
    assert.equal(r.status, 0, `fleet ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  assert.equal(await attempt(), true, "the default window (30 days) admits it");
  await c.waitFor(
    "the admission logged",
    async () => m.log.includes("re-enrolment session admitted"),
    10_000,
  );

  fleet("cluster", "update", "--reenrol-window", "48h");
  assert.equal(JSON.parse(fleet("cluster", "inspect")).spec.reenrolWindowMs, 2 * DAY_MS);
  assert.equal(await attempt(), false, "48 h: refused");
  await c.waitFor(
    "the refusal logged",
    async () => m.log.includes("past the re-enrolment window of 172800 s"),
    10_000,
  );

  fleet("cluster", "update", "--reenrol-window", "240h");
  assert.equal(await attempt(), true, "10 days: admitted again");
});
