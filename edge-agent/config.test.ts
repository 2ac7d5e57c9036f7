import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  CONFIG_FILE,
  ConfigError,
  loadConfig,
  parseFlags,
  pendingJoin,
  saveConfig,
} from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-agent-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("flags: repeated --broker and --label accumulate; --x=y works", () => {
  const f = parseFlags(["--broker", "mqtt://a:1", "--broker=mqtt://b:2", "--label", "k=v"]);
  assert.deepEqual(f.get("broker"), ["mqtt://a:1", "mqtt://b:2"]);
  assert.deepEqual(f.get("label"), ["k=v"]);
});

for (const [argv, why] of [
  [["--nope", "1"], /unknown flag --nope/],
  [["stray"], /unexpected argument/],
  [["--cluster"], /needs a value/],
  [["--cluster", "c"], /--data-dir is required/],
  [["--data-dir", `${dir}/x`, "--cluster", "bad/id", "--node-id", "n"], /--cluster/],
  [["--data-dir", `${dir}/x`, "--cluster", "c", "--node-id", "n"], /--broker URL is required/],
  [["--data-dir", `${dir}/x`, "--cluster", "c", "--node-id", "n", "--broker", "http://x"], /mqtt/],
  [
    [
      "--data-dir",
      `${dir}/x`,
      "--cluster",
      "c",
      "--node-id",
      "n",
      "--broker",
      "mqtt://a:1",
      "--label",
      "x",
    ],
    /key=value/,
  ],
] as const) {
  test(`bad configuration is a ConfigError: ${argv.join(" ")}`, () => {
    assert.throws(
      () => loadConfig([...argv]),
      (e: unknown) => e instanceof ConfigError && why.test(e.message),
    );
  });
}

test("the first run's identity is saved; later runs need only --data-dir", () => {
  const d = join(dir, "agent1");
  const c = loadConfig([
    "--data-dir",
    d,
    "--cluster",
    "c1",
    "--node-id",
    "n1",
    "--broker",
    "mqtt://127.0.0.1:1883",
    "--label",
    "site=roof",
    "--heartbeat-ms",
    "2000",
  ]);
  assert.equal(c.heartbeatPeriodMs, 2000);
  assert.equal(c.offlineAfterMs, 15_000);
  saveConfig(c);
  const again = loadConfig(["--data-dir", d]);
  assert.deepEqual({ ...again }, { ...c });
  assert.equal(JSON.parse(readFileSync(join(d, CONFIG_FILE), "utf8")).dataDir, undefined);
  const flagsWin = loadConfig(["--data-dir", d, "--label", "site=yard"]);
  assert.equal(flagsWin.labels.site, "yard");
});

test("a damaged config file is a ConfigError naming the file", () => {
  const p = join(dir, "bad.json");
  writeFileSync(p, "{ not json");
  assert.throws(
    () => loadConfig(["--data-dir", dir, "--config", p]),
    (e: unknown) => e instanceof ConfigError && e.message.includes(p),
  );
});

test("tls paths saved as {tls: {certFile, keyFile, caFile}} are read back", () => {
  const d = join(dir, "tls-saved");
  const tls = { certFile: "/c/node.pem", keyFile: "/c/node.key", caFile: "/c/ca.pem" };
  saveConfig({
    ...loadConfig([
      "--data-dir",
      d,
      "--cluster",
      "c",
      "--node-id",
      "n",
      "--broker",
      "mqtts://m:8883",
    ]),
    tls,
  });
  assert.deepEqual(loadConfig(["--data-dir", d]).tls, tls);
  // A flag still wins over the file.
  assert.equal(loadConfig(["--data-dir", d, "--tls-ca", "/other.pem"]).tls?.caFile, "/other.pem");
});

test("--config FILE is read over the data dir's own agent.json", () => {
  const d = join(dir, "layered");
  saveConfig({
    ...loadConfig(["--data-dir", d, "--cluster", "c", "--node-id", "n", "--broker", "mqtts://m:1"]),
  });
  const image = join(dir, "image.json");
  writeFileSync(image, JSON.stringify({ labels: { site: "north" } }));
  const c = loadConfig(["--data-dir", d, "--config", image]);
  assert.equal(c.nodeId, "n");
  assert.deepEqual(c.labels, { site: "north" });
  // Once joined (tls saved), what the join wrote wins over the image's first-boot addresses.
  const tls = { certFile: "/n.pem", keyFile: "/n.key", caFile: "/ca.pem" };
  saveConfig({ ...c, brokers: ["mqtts://m:8883"], tls });
  writeFileSync(image, JSON.stringify({ brokers: ["m:8883"], nodeId: "x", labels: { a: "b" } }));
  const j = loadConfig(["--data-dir", d, "--config", image]);
  assert.deepEqual(
    [j.nodeId, j.brokers, j.tls, j.labels],
    ["n", ["mqtts://m:8883"], tls, { a: "b" }],
  );
});

test("pendingJoin: a token and no certificates; the brokers are the managers", () => {
  const d = join(dir, "first-boot");
  const image = join(dir, "first-boot.json");
  const token = `FLT1-${"a".repeat(64)}-${"b".repeat(32)}`;
  writeFileSync(
    image,
    JSON.stringify({
      joinToken: token,
      brokers: ["m1:8883", "mqtts://m2:8883"],
      labels: { a: "1" },
    }),
  );
  const p = pendingJoin(["--data-dir", d, "--config", image, "--label", "b=2"], () => false);
  assert.deepEqual(p && { ...p, hostname: "h" }, {
    dataDir: d,
    token,
    managers: ["m1:8883", "mqtts://m2:8883"],
    labels: { a: "1", b: "2" },
    hostname: "h",
  });
  // Certificates but no identity saved (a join that crashed midway): join again.
  assert.equal(pendingJoin(["--data-dir", d, "--config", image], () => true)?.token, token);
  const joined = { joinToken: token, brokers: ["m:1"], clusterId: "c", nodeId: "n" };
  writeFileSync(image, JSON.stringify(joined));
  assert.equal(
    pendingJoin(["--data-dir", d, "--config", image], () => true),
    undefined,
  );
  assert.equal(
    pendingJoin(["--data-dir", d], () => false),
    undefined,
  );
  assert.equal(
    pendingJoin(["--data-dir", d, "--token", token, "--broker", "mqtts://m:1"], () => false)?.token,
    token,
  );
  assert.throws(
    () => pendingJoin(["--data-dir", join(dir, "none"), "--token", token], () => false),
    /managers/,
  );
});

test("--join-broker: mqtts:// join listeners to re-enrol through, saved and read back", () => {
  const d = join(dir, "agent-join-brokers");
  const base = ["--data-dir", d, "--cluster", "c", "--node-id", "n", "--broker", "mqtts://b:8883"];
  const c = loadConfig([...base, "--join-broker", "mqtts://j:8884"]);
  assert.deepEqual(c.joinBrokers, ["mqtts://j:8884"]);
  saveConfig(c);
  assert.deepEqual(loadConfig(["--data-dir", d]).joinBrokers, ["mqtts://j:8884"]);
  assert.equal(loadConfig(base).joinBrokers?.length, 1, "kept in agent.json");
  assert.throws(
    () => loadConfig([...base, "--join-broker", "mqtt://j:1883"]),
    (e: unknown) => e instanceof ConfigError && /--join-broker/.test(e.message),
  );
});
