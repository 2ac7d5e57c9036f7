// `fleet monitor` against a real mosquitto: CBOR payloads decoded through core/codec, JSON
// operator topics, bad payloads shown rather than fatal, `--json`, a FILTER, a missing broker.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { encodeMessage } from "../../core/codec/messages.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { topics } from "../../core/topics.ts";
import { need, startMosquitto } from "../../test/support/real.ts";
import { fleet, ROOT } from "./testing.ts";

function monitor(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "manager/cli/main.ts"), "monitor", ...args],
    {
      cwd: ROOT,
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  return { child, out: () => out, err: () => err };
}

async function waitFor(ok: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exit = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once("exit", r)));

test("fleet monitor prints one decoded line per message on a real mosquitto", async (t) => {
  if (!need(t, "mosquitto")) return;
  const broker = await startMosquitto();
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const pub = await mqtt.connectAsync(url, { clientId: "fleet-test-pub" });
  const table = monitor(["--broker", url, "--cluster", "c1", "--count", "4"]);
  const json = monitor(["n/+/hb", "--broker", url, "--cluster", "c1", "--count", "1", "--json"]);
  try {
    await waitFor(
      () => table.err().includes("fleet monitor: fleet/c1/#"),
      "table monitor subscribed",
    );
    await waitFor(
      () => json.err().includes("fleet monitor: fleet/c1/n/+/hb"),
      "json monitor subscribed",
    );
    const tp = topics("c1");
    await pub.publishAsync(
      topics("other").heartbeat("n9"),
      Buffer.from(encodeMessage("heartbeat", { seq: 1 })),
    );
    await pub.publishAsync(
      tp.heartbeat("n1"),
      Buffer.from(encodeMessage("heartbeat", { seq: 7, load1: 0.5, containers: 2 })),
    );
    const update = {
      taskId: "task-abcdefghijkl",
      state: TaskState.RUNNING,
      timestamp: 1,
      message: "started",
    };
    await pub.publishAsync(
      tp.status("n1"),
      Buffer.from(encodeMessage("status", { updates: [update] })),
    );
    await pub.publishAsync(tp.event("node"), JSON.stringify({ action: "down", id: "n1" }));
    await pub.publishAsync(tp.hello("n2"), Buffer.from([0xff, 0x00, 0x13]));
    assert.equal(await exit(table.child), 0, table.err());
    const lines = table.out().trim().split("\n");
    assert.equal(lines.length, 4);
    assert.match(
      lines[0]!,
      /^\d\d:\d\d:\d\d\.\d{3} {2}fleet\/c1\/n\/n1\/hb {2}heartbeat {2}seq 7, load 0\.50, 2 cont/,
    );
    assert.match(
      lines[1]!,
      /fleet\/c1\/n\/n1\/status {2}status {2}1 updates: task-abcdefg running$/,
    );
    assert.match(
      lines[2]!,
      /fleet\/c1\/events\/node {2}event\.node {2}\{"action":"down","id":"n1"\}$/,
    );
    assert.match(lines[3]!, /fleet\/c1\/n\/n2\/hello {2}invalid {2}\w+: /);
    assert.equal(await exit(json.child), 0, json.err());
    const rec = JSON.parse(json.out().trim());
    assert.equal(rec.topic, "fleet/c1/n/n1/hb");
    assert.equal(rec.type, "heartbeat");
    assert.deepEqual(rec.payload, { v: 1, type: "heartbeat", seq: 7, load1: 0.5, containers: 2 });
  } finally {
    table.child.kill("SIGKILL");
    json.child.kill("SIGKILL");
    await pub.endAsync();
    await broker.stop();
  }
});

test("fleet monitor: an unreachable broker is an error that names it", async () => {
  const r = await fleet(["monitor", "--broker", "mqtt://127.0.0.1:1", "--cluster", "c1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:1: .*--broker/);
});
