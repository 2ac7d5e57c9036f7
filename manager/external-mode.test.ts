// A manager in external broker mode while its broker never comes: it opens no broker port, its
// leader keeps retrying (logged) instead of giving up, and stop() ends that wait at once. Also
// the --broker flag's checks. In-process daemon (secure: --init), free loopback ports.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { canConnect, freePort } from "../test/support/real.ts";
import { parseManagerConfig } from "./config.ts";
import { ManagerDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

test("--broker: mqtts://HOST:PORT; plain mqtt:// only with --insecure", () => {
  const base = ["--data-dir", "/tmp/x", "--init"];
  assert.equal(
    parseManagerConfig([...base, "--broker", "mqtts://10.0.0.5:8883"]).broker,
    "mqtts://10.0.0.5:8883",
  );
  assert.throws(() => parseManagerConfig([...base, "--broker", "10.0.0.5"]), /mqtts:\/\/HOST:PORT/);
  assert.throws(
    () => parseManagerConfig([...base, "--broker", "mqtt://127.0.0.1:1883"]),
    /--insecure/,
  );
  assert.equal(
    parseManagerConfig([...base, "--insecure", "--broker", "mqtt://127.0.0.1:1883"]).broker,
    "mqtt://127.0.0.1:1883",
  );
});

test("external mode with the broker away: no broker port, the leader retries, stop is prompt", {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-extmode-"));
  const [raftPort, brokerPort, absent] = [await freePort(), await freePort(), await freePort()];
  const lines: string[] = [];
  const log = createLogger("manager", { level: "info", write: (l) => lines.push(l) });
  const config = parseManagerConfig([
    ...["--data-dir", join(dir, "m1"), "--init", "--tick-ms", "50"],
    ...["--raft-port", String(raftPort), "--broker-port", String(brokerPort)],
    ...["--broker", `mqtts://127.0.0.1:${absent}`],
  ]);
  const m = new ManagerDaemon(config, log);
  try {
    await m.start();
    assert.equal(m.broker, undefined);
    assert.equal(m.mesh, undefined);
    assert.equal(await canConnect(brokerPort), false, "no embedded broker listens");
    const deadline = Date.now() + 60_000;
    const retries = () => lines.filter((l) => l.includes("broker unreachable; retrying"));
    // Both the leader's bus and the manager's own link wait for the broker.
    while (
      !(
        retries().some((l) => l.includes("comp=manager.leader")) &&
        retries().some((l) => l.includes("comp=manager.broker"))
      )
    ) {
      if (Date.now() > deadline) assert.fail(`no retries logged:\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(!lines.some((l) => l.includes("leader start failed")), "the leader did not give up");
  } finally {
    // The leader's start is still waiting for the broker: stop must end it, not wait for it
    // (it would wait forever; the test's timeout catches that).
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
