import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, parseManagerConfig } from "./config.ts";

test("flags with defaults", () => {
  const c = parseManagerConfig([
    "--data-dir",
    "/tmp/m1",
    "--init",
    "--raft-port",
    "5000",
    "--label",
    "zone=a",
  ]);
  assert.equal(c.dataDir, "/tmp/m1");
  assert.equal(c.init, true);
  assert.equal(c.raftPort, 5000);
  assert.equal(c.brokerPort, 1883);
  assert.equal(c.apiSocket, "/tmp/m1/fleet.sock");
  assert.equal(c.advertiseAddr, "127.0.0.1");
  assert.deepEqual(c.labels, { zone: "a" });
});

test("a config file under flags", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-config-"));
  try {
    const file = join(dir, "m.json");
    writeFileSync(file, JSON.stringify({ dataDir: "/srv/fleet", brokerPort: 8883, tickMs: 50 }));
    const c = parseManagerConfig(["--config", file, "--tick-ms", "20"]);
    assert.deepEqual([c.dataDir, c.brokerPort, c.tickMs], ["/srv/fleet", 8883, 20]);
    writeFileSync(file, "[1,2]");
    assert.throws(() => parseManagerConfig(["--config", file]), /not a JSON object/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every problem at once, naming the setting", () => {
  assert.throws(
    () =>
      parseManagerConfig([
        "--init",
        "--join",
        "FLT1-x",
        "--join-addr",
        "nohost",
        "--raft-port",
        "99999",
        "--tick-ms",
        "x",
      ]),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      for (const want of [
        "dataDir: is required",
        "join: --init and --join exclude each other",
        'joinAddr: "nohost" is not HOST:PORT',
        "joinAddr: is required with --join",
        "raftPort: must be at most 65535",
        "tickMs: must be a positive integer",
      ]) {
        assert.ok(e.message.includes(want), `${want} in\n${e.message}`);
      }
      return true;
    },
  );
  assert.throws(() => parseManagerConfig(["--bogus"]), /Unknown option '--bogus'/);
});

test("--initial-cluster requires --insecure; --insecure requires loopback addresses", () => {
  const base = ["--data-dir", "/tmp/m", "--raft-id", "1", "--cluster-id", "c1"];
  assert.throws(
    () => parseManagerConfig([...base, "--initial-cluster", "1=127.0.0.1:4000"]),
    /initialCluster: requires --insecure/,
  );
  const c = parseManagerConfig([...base, "--initial-cluster", "1=127.0.0.1:4000", "--insecure"]);
  assert.equal(c.insecure, true);
  assert.throws(
    () => parseManagerConfig([...base, "--initial-cluster", "1=10.0.0.1:4000", "--insecure"]),
    /member 1 at 10.0.0.1: --insecure allows loopback only/,
  );
  assert.throws(
    () =>
      parseManagerConfig(["--data-dir", "/d", "--init", "--insecure", "--listen-addr", "0.0.0.0"]),
    /listenAddr: 0.0.0.0 is not a loopback address/,
  );
  assert.throws(
    () => parseManagerConfig(["--data-dir", "/d", "--init", "--ca-curve", "rsa"]),
    /caCurve: must be ed25519 or p256/,
  );
  const j = parseManagerConfig([
    "--data-dir",
    "/d",
    "--join",
    "FLT1-abc",
    "--join-addr",
    "127.0.0.1:1883",
    "--join-addr",
    "127.0.0.2:1884",
  ]);
  assert.deepEqual(
    [j.join, j.joinAddrs, j.insecure],
    ["FLT1-abc", ["127.0.0.1:1883", "127.0.0.2:1884"], false],
  );
});
