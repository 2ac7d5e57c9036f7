// Re-enrolment through an external broker: a real mosquitto configured by `mosquittoConfig`
// (certificate listener with require_certificate, join listener without), the leader's
// JoinService on an MqttBus with a manager certificate, and the agent's CertificateRenewal with
// a certificate that expired two hours ago. mosquitto refuses that certificate in the handshake
// (mosquitto_pub fails), so the renewal goes through the join listener: the csr, proved by the
// old certificate and key instead of a token, is answered with a new certificate, written to
// disk and handed to the session; the store records the new serial. Past the window, an
// unknown (removed) node and a still-valid certificate are refused with their codes.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { signRenewal } from "../../core/crypto/proof.ts";
import { testKey } from "../../core/crypto/testing.ts";
import { defaultClusterSpec } from "../../core/model/defaults.ts";
import { makeNode } from "../../core/model/fixtures.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { JoinError } from "../../edge-agent/join/errors.ts";
import { reenrolOverJoin } from "../../edge-agent/join/reenrol.ts";
import { CertificateRenewal, certPaths } from "../../edge-agent/renewal.ts";
import { canConnect, freePort, need } from "../../test/support/real.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";
import { createLogger } from "../log.ts";
import { CertificateAuthority } from "./ca.ts";
import { clusterCAFields } from "./lifecycle.ts";
import { mosquittoConfig } from "./mosquitto-config.ts";
import { JoinService } from "./service.ts";

const CLUSTER = "c1";
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += String(d);
    });
    p.stderr.on("data", (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a node expired within the window re-enrols through mosquitto's join listener", async (t) => {
  if (!need(t, "mosquitto")) return;
  const dir = mkdtempSync(join(tmpdir(), "fleet-reenrol-join-"));
  const clock = { offset: 0 };
  const { ca, tokens } = CertificateAuthority.create({
    clusterId: CLUSTER,
    now: () => Date.now() + clock.offset,
  });
  const store = new Store();
  const writer = new LocalWriter(store);
  store.update((tx) => {
    tx.create("clusters", {
      id: CLUSTER,
      version: 0,
      createdAt: 1,
      updatedAt: 1,
      spec: { ...defaultClusterSpec },
      ...clusterCAFields(ca, tokens),
    });
    tx.create("nodes", makeNode("w1"));
  });
  /** cert, key and ca files of an identity issued `agoMs` ago for `expiryMs`. */
  const material = (id: string, role: "worker" | "manager", agoMs = 0, expiryMs = 90 * DAY_MS) => {
    const key = testKey(`reenrol-join:${id}`);
    clock.offset = -agoMs;
    const issued = ca.issue(id, role, key.publicKey, { ipAddresses: ["127.0.0.1"] }, expiryMs);
    clock.offset = 0;
    mkdirSync(join(dir, id, "certs"), { recursive: true });
    const paths = certPaths(join(dir, id));
    writeFileSync(paths.ca, ca.root.certPem);
    writeFileSync(paths.cert, issued.certPem);
    writeFileSync(paths.key, privateKeyToPem(key), { mode: 0o600 });
    return { paths, issued, key };
  };
  const broker = material("broker", "manager");
  // The join listener presents leaf + root: a node pins the root by its digest.
  const chain = join(dir, "broker-chain.pem");
  writeFileSync(chain, `${broker.issued.certPem.trimEnd()}\n${ca.root.certPem}`);
  const port = await freePort();
  const joinPort = await freePort();
  const { conf, acl } = mosquittoConfig({
    clusterId: CLUSTER,
    port,
    joinPort,
    bindAddress: "127.0.0.1",
    caFile: broker.paths.ca,
    certFile: chain,
    keyFile: broker.paths.key,
    aclFile: join(dir, "acl"),
    managers: ["m1"],
    admins: [],
  });
  writeFileSync(join(dir, "mosquitto.conf"), `${conf}user ${userInfo().username}\n`);
  writeFileSync(join(dir, "acl"), acl);
  const proc: ChildProcess = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let mlog = "";
  proc.stderr?.on("data", (d) => {
    mlog += String(d);
  });
  let bus: MqttBus | undefined;
  let service: JoinService | undefined;
  let renewal: CertificateRenewal | undefined;
  try {
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port)) || !(await canConnect(joinPort))) {
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`mosquitto did not start: ${mlog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const m1 = material("m1", "manager").paths;
    bus = await MqttBus.connect({
      url: `mqtts://127.0.0.1:${port}`,
      clientId: "m1-leader",
      mqtt: {
        ca: readFileSync(m1.ca),
        cert: readFileSync(m1.cert),
        key: readFileSync(m1.key),
        rejectUnauthorized: true,
      },
    });
    const logs: string[] = [];
    service = new JoinService({
      store,
      writer,
      bus,
      clusterId: CLUSTER,
      addLearner: async () => undefined,
      members: () => [],
      newId: () => "never",
      newRaftId: () => 0,
      log: createLogger("test", { write: (l: string) => void logs.push(l) }),
    });
    await service.start();

    // w1 was offline: its 1-hour certificate expired an hour ago.
    const w1 = material("w1", "worker", 2 * HOUR_MS, HOUR_MS);
    const pub = await run("mosquitto_pub", [
      ...["-h", "127.0.0.1", "-p", String(port), "--cafile", w1.paths.ca],
      ...["--cert", w1.paths.cert, "--key", w1.paths.key, "--tls-version", "tlsv1.3"],
      ...["-i", "fleet-agent-w1", "-t", `fleet/${CLUSTER}/n/w1/csr`, "-m", "x"],
    ]);
    assert.notEqual(pub.code, 0, `mosquitto refuses the expired certificate: ${pub.out}`);

    const swapped: string[] = [];
    const joinUrl = `mqtts://127.0.0.1:${joinPort}`;
    renewal = new CertificateRenewal(
      {
        clusterId: CLUSTER,
        nodeId: "w1",
        paths: w1.paths,
        // No session: the certificate listener refuses it.
        link: { publish: () => false, updateTls: (m) => swapped.push(m.cert) },
        joinBrokers: [joinUrl],
        retryMs: 60_000,
      },
      {
        caPem: ca.root.certPem,
        certPem: w1.issued.certPem,
        keyPem: readFileSync(w1.paths.key, "utf8"),
      },
    );
    assert.equal(renewal.reenrolling(), true);
    renewal.start();
    await until("the new certificate handed to the session", () => swapped.length === 1);
    const onDisk = parseCertificate(readFileSync(w1.paths.cert, "utf8"));
    assert.notEqual(onDisk.serial, w1.issued.serial);
    assert.ok(onDisk.notAfterMs > Date.now() + 80 * DAY_MS);
    assert.equal(swapped[0], readFileSync(w1.paths.cert, "utf8"));
    assert.equal(store.view((tx) => tx.get("nodes", "w1"))?.certificate?.serial, onDisk.serial);
    assert.ok(logs.some((l) => l.includes("node re-enrolled")));
    // The new certificate is admitted by the certificate listener.
    const ok = await run("mosquitto_pub", [
      ...["-h", "127.0.0.1", "-p", String(port), "--cafile", w1.paths.ca],
      ...["--cert", w1.paths.cert, "--key", w1.paths.key, "--tls-version", "tlsv1.3"],
      ...["-i", "fleet-agent-w1", "-t", `fleet/${CLUSTER}/n/w1/hb`, "-m", "x"],
    ]);
    assert.equal(ok.code, 0, ok.out);

    // Refused over the join listener, each with its code.
    const csrOf = (id: string, agoMs: number, expiryMs: number) => {
      const m = material(id, "worker", agoMs, expiryMs);
      const next = testKey(`reenrol-join:${id}:next`);
      const subject = { clusterId: CLUSTER, nodeId: id, serial: m.issued.serial };
      const proof = signRenewal(m.key, next, subject);
      return encodeMessage("csr", { ...proof, role: "worker", certPem: m.issued.certPem });
    };
    store.update((tx) => {
      tx.create("nodes", makeNode("w2"));
      tx.create("nodes", makeNode("w4"));
    });
    const cases: [string, Uint8Array, RegExp][] = [
      ["past the window", csrOf("w2", 32 * DAY_MS, HOUR_MS), /\[expired\]/],
      ["unknown node", csrOf("w3", 2 * HOUR_MS, HOUR_MS), /\[removed\]/],
      ["still valid", csrOf("w4", 0, HOUR_MS), /still valid/],
    ];
    for (const [what, csr, want] of cases) {
      await assert.rejects(
        reenrolOverJoin({ url: joinUrl, caPem: ca.root.certPem, csr }),
        (err: Error) => err instanceof JoinError && want.test(err.message),
        what,
      );
    }
  } finally {
    renewal?.stop();
    await service?.stop();
    await bus?.close();
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
