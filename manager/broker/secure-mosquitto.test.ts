// The embedded broker in secure mode against the real mosquitto clients (`mosquitto_pub`,
// `mosquitto_sub` with --cafile/--cert/--key, TLS 1.3): refused without a certificate, with one
// from another CA, an expired or a revoked one; a worker touching another node's topics is
// refused; a worker on its own topics and a join session on its join topics work. Ed25519 and
// P-256 clusters both.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Curve } from "../../core/crypto/keys.ts";
import { DAY_MS } from "../../core/crypto/testing.ts";
import { need } from "../../test/support/real.ts";
import { brokerSecurity } from "../secure.ts";
import { TEST_JOIN_TOKEN, TestCluster, writeTls } from "../secure-testing.ts";
import { Broker, type Message } from "./broker.ts";

interface Run {
  code: number | null;
  out: string;
}

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += String(d);
    });
    p.stderr.on("data", (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

for (const curve of ["ed25519", "p256"] as Curve[]) {
  describe(`secure broker with mosquitto clients (${curve})`, () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-secure-mosq-"));
    const cluster = new TestCluster("c1", curve);
    const other = new TestCluster("c1", curve, "another-ca");
    const manager = cluster.issue("mgr1", "manager", { ipAddresses: ["127.0.0.1"] });
    const deps = cluster.deps(() => manager);
    const ca = writeTls(dir, "mgr1", manager).ca;
    const files = (name: string, m = cluster.issue(name, "worker")) => {
      const p = writeTls(dir, `${name}-${m.serial.slice(0, 8)}`, m);
      return { ...m, args: ["--cert", p.cert, "--key", p.key] };
    };
    const w1 = files("w1");
    const w2 = files("w2");
    let broker: Broker;
    const seen: Message[] = [];

    const base = (clientId: string) => [
      ...["-h", "127.0.0.1", "-p", String(broker.port), "--cafile", ca],
      ...["--tls-version", "tlsv1.3", "-i", clientId, "-q", "1"],
    ];
    const pub = (
      clientId: string,
      tls: string[],
      topic: string,
      msg: string,
      extra: string[] = [],
    ) => run("mosquitto_pub", [...base(clientId), ...tls, ...extra, "-t", topic, "-m", msg]);
    const sub = (clientId: string, tls: string[], topic: string, extra: string[] = []) =>
      run("mosquitto_sub", [
        ...base(clientId),
        ...tls,
        ...extra,
        "-t",
        topic,
        "-C",
        "1",
        "-W",
        "5",
      ]);

    before(async () => {
      const { tls, authorizer } = brokerSecurity(deps);
      broker = await Broker.start({ id: "mgr1", tls, authorizer });
      await broker.subscribe("fleet/c1/#", (m) => seen.push(m));
      await broker.publish("fleet/c1/n/w1/assign", "tasks-w1", { qos: 1, retain: true });
    });
    after(async () => {
      await broker?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a worker publishes its own uplink and reads its own assignment", async (t) => {
      if (!need(t, "mosquitto")) return;
      const p = await pub("fleet-agent-w1", w1.args, "fleet/c1/n/w1/hello", `hi-${curve}`);
      assert.equal(p.code, 0, p.out);
      assert.ok(seen.some((m) => String(m.payload) === `hi-${curve}`));
      const s = await sub("fleet-agent-w1", w1.args, "fleet/c1/n/w1/assign");
      assert.equal(s.code, 0, s.out);
      assert.equal(s.out.trim(), "tasks-w1");
    });

    test("refused: no certificate, another CA, expired, revoked", async (t) => {
      if (!need(t, "mosquitto")) return;
      const foreign = files("w1", other.issue("w1", "worker"));
      const expired = files(
        "w5",
        // Past the re-enrolment window (reenrol.test.ts: within it, a restricted session).
        cluster.issue("w5", "worker", { nowMs: Date.now() - 200 * DAY_MS, expiryMs: 90 * DAY_MS }),
      );
      const revoked = files("w6");
      cluster.revoked.add(revoked.serial);
      const cases: [string, string, string[], string][] = [
        ["no certificate", "fleet-agent-w1", [], "no client certificate"],
        ["another CA", "fleet-agent-w1", foreign.args, "not issued by this cluster's CA"],
        ["expired", "fleet-agent-w5", expired.args, "past the re-enrolment window"],
        ["revoked", "fleet-agent-w6", revoked.args, `${revoked.serial} of w6 is revoked`],
      ];
      for (const [what, clientId, args, reason] of cases) {
        const r = await pub(clientId, args, `fleet/c1/n/${clientId.slice(12)}/hello`, "x");
        assert.notEqual(r.code, 0, `${what}: ${r.out}`);
        assert.match(r.out, /not authori[sz]ed/i, what);
        assert.ok(cluster.logged(reason), `${what}: logged "${reason}"`);
      }
      assert.ok(!seen.some((m) => String(m.payload) === "x"));
    });

    test("a worker may not read another node's assignment nor forge its status", async (t) => {
      if (!need(t, "mosquitto")) return;
      const s = await sub("fleet-agent-w2", w2.args, "fleet/c1/n/w1/assign");
      assert.match(s.out, /subscription requests were denied/);
      assert.doesNotMatch(s.out, /tasks-w1/);
      const p = await pub("fleet-agent-w2", w2.args, "fleet/c1/n/w1/status", "forged");
      assert.notEqual(p.code, 0, p.out);
      assert.ok(!seen.some((m) => String(m.payload) === "forged"));
      assert.ok(cluster.logged("worker w2 may not publish fleet/c1/n/w1/status"));
    });

    test("a join session uses its own join topics only", async (t) => {
      if (!need(t, "mosquitto")) return;
      const join = ["-u", "fleet-join", "-P", TEST_JOIN_TOKEN];
      const ok = await pub("req1", [], "fleet/c1/join/req1/req", `join-${curve}`, join);
      assert.equal(ok.code, 0, ok.out);
      assert.ok(seen.some((m) => String(m.payload) === `join-${curve}`));
      const other = await pub("req1", [], "fleet/c1/join/req2/req", "other", join);
      assert.notEqual(other.code, 0, other.out);
      const bad = ["-u", "fleet-join", "-P", "FLT1-wrong"];
      const wrong = await pub("req1", [], "fleet/c1/join/req1/req", "wrong", bad);
      assert.match(wrong.out, /not authori[sz]ed/i);
    });
  });
}
