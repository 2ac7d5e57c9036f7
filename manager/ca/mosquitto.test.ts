// A real mosquitto configured by `mosquittoConfig`, with certificates from the fleet CA, driven
// by mosquitto_pub / mosquitto_sub. Started and stopped by pid; files in a temp dir removed.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { DAY_MS, testKey } from "../../core/crypto/testing.ts";
import { canConnect, freePort, have, need } from "../../test/support/real.ts";
import { CertificateAuthority } from "./ca.ts";
import { mosquittoConfig } from "./mosquitto-config.ts";

type Curve = "ed25519" | "p256";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += String(d);
    });
    p.stderr.on("data", (d) => {
      stderr += String(d);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A cluster CA, a mosquitto configured for it, and per-identity client file sets. */
class Broker {
  readonly dir = mkdtempSync(join(tmpdir(), "fleet-mosq-tls-"));
  readonly ca: CertificateAuthority;
  port = 0;
  joinPort = 0;
  #proc: ChildProcess | undefined;
  #log = "";

  /** The CA's clock: the root is made 200 days ago so old certificates can be issued. */
  readonly clock = { now: Date.now() - 200 * DAY_MS };

  constructor(readonly curve: Curve) {
    this.ca = CertificateAuthority.create({ clusterId: "c1", curve, now: () => this.clock.now }).ca;
    this.clock.now = Date.now();
    writeFileSync(join(this.dir, "ca.pem"), this.ca.root.certPem);
  }

  /** Writes cert + key for an identity; returns mosquitto client TLS arguments. */
  identity(nodeId: string, role: "worker" | "manager" | "admin", keyCurve: Curve = this.curve) {
    const key = testKey(`${this.curve}:${nodeId}`, keyCurve);
    const issued =
      role === "admin"
        ? this.ca.issueAdmin(nodeId, key.publicKey)
        : this.ca.issue(nodeId, role, key.publicKey, { ipAddresses: ["127.0.0.1"] });
    const cert = join(this.dir, `${nodeId}.crt`);
    const keyFile = join(this.dir, `${nodeId}.key`);
    writeFileSync(cert, issued.certPem);
    writeFileSync(keyFile, privateKeyToPem(key), { mode: 0o600 });
    return {
      args: ["--cafile", join(this.dir, "ca.pem"), "--cert", cert, "--key", keyFile, "-i", nodeId],
      issued,
    };
  }

  /** Issues `expired` (lapsed 10 days ago) and `revoked` (listed in the CRL) identities. */
  #badIdentities(): void {
    const now = this.clock.now;
    this.clock.now = now - 100 * DAY_MS;
    this.identity("expired", "worker");
    this.clock.now = now;
    const revoked = this.identity("revoked", "worker").issued;
    this.ca.revoke(revoked.serial, revoked.notAfterMs);
    writeFileSync(join(this.dir, "crl.pem"), this.ca.crlPem());
  }

  async start(): Promise<void> {
    this.identity("broker", "manager");
    this.#badIdentities();
    this.port = await freePort();
    this.joinPort = await freePort();
    const files = { caFile: join(this.dir, "ca.pem"), certFile: join(this.dir, "broker.crt") };
    const { conf, acl } = mosquittoConfig({
      clusterId: "c1",
      port: this.port,
      joinPort: this.joinPort,
      bindAddress: "127.0.0.1",
      ...files,
      keyFile: join(this.dir, "broker.key"),
      aclFile: join(this.dir, "acl"),
      crlFile: join(this.dir, "crl.pem"),
      managers: ["m1"],
      admins: ["ops"],
    });
    // Test only: stay the current user (as root mosquitto would switch to `mosquitto`, which
    // cannot read this private temp dir).
    writeFileSync(join(this.dir, "mosquitto.conf"), `${conf}user ${userInfo().username}\n`);
    writeFileSync(join(this.dir, "acl"), acl);
    const proc = spawn("mosquitto", ["-c", join(this.dir, "mosquitto.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#proc = proc;
    proc.stderr?.on("data", (d) => {
      this.#log += String(d);
    });
    const deadline = Date.now() + 10_000;
    while (!((await canConnect(this.port)) && (await canConnect(this.joinPort)))) {
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`mosquitto did not start: ${this.#log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  pub(tls: string[], topic: string, message: string, port = this.port): Promise<Run> {
    return run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      ...tls,
      "-q",
      "1",
      "-t",
      topic,
      "-m",
      message,
    ]);
  }

  /** Subscribes, waits for `count` messages (at most `waitS` s); prints `topic payload`. */
  sub(tls: string[], topics: string[], count: number, waitS = 10): Promise<Run> {
    const t = topics.flatMap((x) => ["-t", x]);
    const args = [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      ...tls,
      "-q",
      "1",
      "-v",
      "-C",
      String(count),
      "-W",
      String(waitS),
      ...t,
    ];
    return run("mosquitto_sub", args, (waitS + 5) * 1000);
  }
}

/**
 * The retained messages `who` can see under `filters`, after everything published so far.
 * mosquitto_sub --retained-only exits at the first live message; a manager publishes live
 * `end` markers (bounded) until it has.
 */
async function retainedSeen(b: Broker, who: string[], filters: string[], endTopic: string) {
  // Its own client id: reusing the subscriber's would take its session over.
  const marker = [...b.identity("m1", "manager").args, "-i", "m1-marker"];
  const t = filters.flatMap((x) => ["-t", x]);
  const args = [
    "-h",
    "127.0.0.1",
    "-p",
    String(b.port),
    ...who,
    "-q",
    "1",
    "-v",
    "--retained-only",
  ];
  let exited = false;
  const sub = run("mosquitto_sub", [...args, "-W", "20", ...t]).then((r) => {
    exited = true;
    return r;
  });
  for (let i = 0; i < 100 && !exited; i++) await b.pub(marker, endTopic, "end");
  const r = await sub;
  // Overlapping filters deliver a message once per matching subscription: count it once.
  return [...new Set(r.stdout.trim().split("\n").filter(Boolean))].sort();
}

for (const curve of ["ed25519", "p256"] as const) {
  describe(`real mosquitto, ${curve} root`, () => {
    const b = new Broker(curve);
    let up = false;
    before(async () => {
      if (have("mosquitto")) {
        await b.start();
        up = true;
      }
    });
    after(async () => {
      await b.stop();
    });

    test("uplinks reach a manager; Ed25519 and P-256 client keys both work", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const w1 = b.identity("w1", "worker", "ed25519").args;
      const w2 = b.identity("w2", "worker", "p256").args;
      assert.equal((await b.pub([...w1, "-r"], "fleet/c1/n/w1/status", "s1")).code, 0);
      assert.equal((await b.pub([...w2, "-r"], "fleet/c1/n/w2/status", "s2")).code, 0);
      const m1 = b.identity("m1", "manager").args;
      const r = await b.sub(m1, ["fleet/c1/n/+/status"], 2);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n").sort();
      assert.deepEqual(lines, ["fleet/c1/n/w1/status s1", "fleet/c1/n/w2/status s2"]);
    });

    test("a worker cannot publish on another node's topics (never arrives)", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const w3 = b.identity("w3", "worker").args;
      for (const topic of ["fleet/c1/n/w4/hello", "fleet/c1/n/w4/assign", "fleet/c1/n/w3/assign"])
        await b.pub([...w3, "-r"], topic, "forged");
      await b.pub([...w3, "-r"], "fleet/c1/n/w3/hello", "mine");
      const m1 = b.identity("m1", "manager").args;
      const seen = await retainedSeen(
        b,
        m1,
        ["fleet/c1/n/w3/#", "fleet/c1/n/w4/#"],
        "fleet/c1/n/w3/hb",
      );
      assert.deepEqual(seen, ["fleet/c1/n/w3/hello mine"]);
    });

    test("a worker cannot read another node's assignments", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const m1 = b.identity("m1", "manager").args;
      await b.pub([...m1, "-r"], "fleet/c1/n/w5/assign", "for-w5");
      await b.pub([...m1, "-r"], "fleet/c1/n/w6/assign", "for-w6");
      const w5 = b.identity("w5", "worker").args;
      const filters = ["fleet/c1/n/w5/assign", "fleet/c1/n/w6/assign", "fleet/c1/n/+/assign"];
      const seen = await retainedSeen(b, w5, filters, "fleet/c1/n/w5/assign");
      assert.deepEqual(seen, ["fleet/c1/n/w5/assign for-w5"]);
    });

    test("a worker reads the managers' beacon but cannot publish it", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const beacon = "fleet/c1/managers/beacon";
      const m1 = b.identity("m1", "manager").args;
      await b.pub([...m1, "-r"], beacon, "real");
      const w7 = b.identity("w7", "worker").args;
      await b.pub([...w7, "-r"], beacon, "forged");
      const seen = await retainedSeen(b, w7, [beacon], beacon);
      assert.deepEqual(seen, [`${beacon} real`]);
    });

    test("an operator reads state but cannot publish", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const m1 = b.identity("m1", "manager").args;
      await b.pub([...m1, "-r"], "fleet/c1/state/nodes/w1", '{"state":"ready"}');
      const ops = b.identity("ops", "admin").args;
      await b.pub([...ops, "-r"], "fleet/c1/state/nodes/w2", "forged");
      const seen = await retainedSeen(b, ops, ["fleet/c1/state/#"], "fleet/c1/state/end");
      assert.deepEqual(seen, ['fleet/c1/state/nodes/w1 {"state":"ready"}']);
    });

    test("another CA's client certificate, and no certificate, are refused", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const stranger = new Broker(curve);
      try {
        const foreign = stranger.identity("w1", "worker").args;
        const withOurCa = foreign.map((a) => (a.endsWith("ca.pem") ? join(b.dir, "ca.pem") : a));
        const r = await b.pub(withOurCa, "fleet/c1/n/w1/hb", "x");
        assert.notEqual(r.code, 0, "foreign certificate accepted");
        const bare = ["--cafile", join(b.dir, "ca.pem"), "-i", "w1"];
        assert.notEqual(
          (await b.pub(bare, "fleet/c1/n/w1/hb", "x")).code,
          0,
          "no certificate accepted",
        );
      } finally {
        await stranger.stop();
      }
    });

    test("an expired or revoked (CRL) certificate is refused", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      for (const id of ["expired", "revoked"]) {
        const args = ["--cafile", join(b.dir, "ca.pem"), "-i", id];
        const files = ["--cert", join(b.dir, `${id}.crt`), "--key", join(b.dir, `${id}.key`)];
        const r = await b.pub([...args, ...files], `fleet/c1/n/${id}/hb`, "x");
        assert.notEqual(r.code, 0, `${id} certificate accepted`);
      }
      const fine = b.identity("w8", "worker").args;
      assert.equal(
        (await b.pub(fine, "fleet/c1/n/w8/hb", "x")).code,
        0,
        "the CRL refuses only its own",
      );
    });

    test("a join session (no certificate) reaches only its own join topic", async (t) => {
      if (!need(t, "mosquitto") || !up) return;
      const anon = (id: string) => ["--cafile", join(b.dir, "ca.pem"), "-i", id];
      const ok = await b.pub([...anon("req1"), "-r"], "fleet/c1/join/req1/req", "join", b.joinPort);
      assert.equal(ok.code, 0, ok.stderr);
      await b.pub([...anon("req1"), "-r"], "fleet/c1/join/req2/req", "hijack", b.joinPort);
      await b.pub([...anon("req1"), "-r"], "fleet/c1/n/req1/hello", "sneak", b.joinPort);
      const m1 = b.identity("m1", "manager").args;
      const seen = await retainedSeen(
        b,
        m1,
        ["fleet/c1/join/#", "fleet/c1/n/req1/#"],
        "fleet/c1/join/end/req",
      );
      assert.deepEqual(seen, ["fleet/c1/join/req1/req join"]);
    });
  });
}
