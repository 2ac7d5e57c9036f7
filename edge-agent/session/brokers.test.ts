import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BROKERS_FILE, brokerUrls, loadLearned, mergeBrokers, saveLearned } from "./brokers.ts";

test("learned addresses become URLs of the configured scheme; bad ones are skipped", () => {
  assert.deepEqual(
    brokerUrls(
      ["10.0.0.1:1883", "m2.local:8883", "[::1]:1883", "x", "h:0", "h:99999", "a/b:1"],
      "mqtts",
    ),
    ["mqtts://10.0.0.1:1883", "mqtts://m2.local:8883", "mqtts://[::1]:1883"],
  );
});

test("configured brokers come first, learned ones follow without duplicates", () => {
  assert.deepEqual(
    mergeBrokers(
      ["mqtt://10.0.0.2:1883", "mqtt://10.0.0.1:1883"],
      ["mqtt://10.0.0.1:1883", "mqtt://10.0.0.3:1883", "MQTT://10.0.0.2:1883/"],
    ),
    ["mqtt://10.0.0.2:1883", "mqtt://10.0.0.1:1883", "mqtt://10.0.0.3:1883"],
  );
});

test("the learned list survives in the data dir; a damaged file is ignored", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-brokers-"));
  try {
    assert.deepEqual(loadLearned(dir), []);
    saveLearned(dir, ["mqtt://10.0.0.3:1883"]);
    assert.deepEqual(loadLearned(dir), ["mqtt://10.0.0.3:1883"]);
    writeFileSync(join(dir, BROKERS_FILE), "{not json");
    assert.deepEqual(loadLearned(dir), []);
    writeFileSync(join(dir, BROKERS_FILE), '{"brokers":["mqtt://ok:1",7,"ftp://no:2"]}');
    assert.deepEqual(loadLearned(dir), ["mqtt://ok:1"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
