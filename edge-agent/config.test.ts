import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CONFIG_FILE, ConfigError, loadConfig, parseFlags, saveConfig } from "./config.ts";

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
