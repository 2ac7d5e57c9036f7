// `fleet monitor` on an mqtts:// broker with mutual TLS: a real mosquitto with a TLS listener
// and certificates made by openssl for the test (the fleet's own CA arrives with the security
// work; any PEM CA and client pair works the same).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { encodeMessage } from "../../core/codec/messages.ts";
import { topics } from "../../core/topics.ts";
import { freePort, need, startMosquitto } from "../../test/support/real.ts";
import { fleet, ROOT } from "./testing.ts";

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all P-256. */
function makeCerts(dir: string): void {
  const key = (name: string) =>
    openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name]);
  key("ca.key");
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=test-ca",
    "-days",
    "2",
    "-out",
    "ca.pem",
  ]);
  for (const [name, extra] of [
    ["server", ["-addext", "subjectAltName=IP:127.0.0.1"]],
    ["client", []],
  ] as const) {
    key(`${name}.key`);
    openssl(dir, [
      "req",
      "-new",
      "-key",
      `${name}.key`,
      "-subj",
      `/CN=${name}`,
      ...extra,
      "-out",
      `${name}.csr`,
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-copy_extensions",
      "copy",
      "-out",
      `${name}.pem`,
    ]);
  }
}

test("fleet monitor over mutual TLS (mqtts://, --ca --cert --key)", async (t) => {
  if (!need(t, "mosquitto")) return;
  const dir = mkdtempSync(join(tmpdir(), "fleet-tls-"));
  makeCerts(dir);
  // mosquitto started as root drops to its own user: let it read the throwaway server files.
  chmodSync(dir, 0o755);
  for (const f of ["ca.pem", "server.pem", "server.key"]) chmodSync(join(dir, f), 0o644);
  const tlsPort = await freePort();
  const broker = await startMosquitto(
    [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(dir, "ca.pem")}`,
      `certfile ${join(dir, "server.pem")}`,
      `keyfile ${join(dir, "server.key")}`,
      "require_certificate true",
    ].join("\n"),
  );
  const url = `mqtts://127.0.0.1:${tlsPort}`;
  const tls = [
    "--ca",
    join(dir, "ca.pem"),
    "--cert",
    join(dir, "client.pem"),
    "--key",
    join(dir, "client.key"),
  ];
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(ROOT, "manager/cli/main.ts"),
      "monitor",
      "--broker",
      url,
      "--cluster",
      "c1",
      "--count",
      "1",
      ...tls,
    ],
    { cwd: ROOT, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    clientId: "fleet-tls-pub",
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!err.includes("fleet monitor: fleet/c1/#")) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`monitor not ready: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await pub.publishAsync(
      topics("c1").heartbeat("n1"),
      Buffer.from(encodeMessage("heartbeat", { seq: 3 })),
    );
    assert.equal(await exited, 0, err);
    assert.match(out, /fleet\/c1\/n\/n1\/hb {2}heartbeat {2}seq 3/);
    const noCert = await fleet([
      "monitor",
      "--broker",
      url,
      "--cluster",
      "c1",
      "--ca",
      join(dir, "ca.pem"),
    ]);
    assert.equal(noCert.code, 1);
    assert.match(noCert.stderr, /cannot reach the MQTT broker at mqtts:/);
    const plain = await fleet([
      "monitor",
      "--broker",
      "mqtt://127.0.0.1:1",
      "--cluster",
      "c1",
      ...tls,
    ]);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /need an mqtts:\/\/ broker URL/);
  } finally {
    child.kill("SIGKILL");
    await pub.endAsync();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
