// Pulls from a real registry: Debian's docker-registry on loopback (Docker treats 127.0.0.0/8
// as an insecure registry, so no TLS is needed). The executor reports progress; the worker puts
// it in the PREPARING message and runs the task once the image is there.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TaskState as S } from "../../core/model/task-state.ts";
import { ensureTestImage, freePort, need, removeTestContainers } from "../../test/support/real.ts";
import { RecordingSink, task } from "../worker/testing.ts";
import { Worker } from "../worker/worker.ts";
import { DockerExecutor } from "./docker.ts";
import type { PullProgress } from "./executor.ts";

const VALUE = `pull-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "fleet-registry-"));
let registry: ChildProcess | undefined;
const tags: string[] = [];
after(() => {
  removeTestContainers(VALUE);
  for (const t of tags) spawnSync("docker", ["rmi", "-f", t], { stdio: "ignore" });
  registry?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

async function startRegistry(): Promise<number> {
  const port = await freePort();
  const conf = join(dir, "config.yml");
  writeFileSync(
    conf,
    "version: 0.1\nlog:\n  level: error\n" +
      `storage:\n  filesystem:\n    rootdirectory: ${dir}/data\n` +
      `http:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn("docker-registry", ["serve", conf], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const r = spawnSync("wget", ["-q", "-O", "/dev/null", `http://127.0.0.1:${port}/v2/`]);
    if (r.status === 0) return port;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("docker-registry did not start");
}

function haveRegistry(t: { skip(m: string): void; name: string }): boolean {
  if (spawnSync("sh", ["-c", "command -v docker-registry && command -v wget"]).status === 0) {
    return true;
  }
  const msg = "docker-registry (apt-get install -y docker-registry) or wget missing";
  if (process.env.CI === "true") throw new Error(`missing real part under CI=true: ${msg}`);
  console.warn(`\n*** ${t.name}: SKIPPED for want of ${msg} ***\n`);
  t.skip(msg);
  return false;
}

/** Pushes the test image to the registry under a new name and drops it locally. */
function publish(port: number, name: string): string {
  const ref = `127.0.0.1:${port}/fleet-test/${name}:1`;
  tags.push(ref);
  const run = (...args: string[]) => {
    const r = spawnSync("docker", args, { encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) throw new Error(`docker ${args[0]}: ${r.stderr}`);
  };
  run("tag", ensureTestImage(), ref);
  run("push", ref);
  run("rmi", ref);
  return ref;
}

test("pull from a loopback registry: progress, then the image is present", async (t) => {
  if (!need(t, "docker", "busybox") || !haveRegistry(t)) return;
  const port = await startRegistry();
  const ref = publish(port, "direct");
  const ex = new DockerExecutor();
  assert.equal(await ex.hasImage(ref), false);
  const progress: PullProgress[] = [];
  await ex.pull(ref, (p) => progress.push(p));
  assert.equal(await ex.hasImage(ref), true);
  assert.ok(progress.length > 0);
  assert.ok(progress.some((p) => /Pull complete|Downloaded|Download complete/.test(p.status)));
  const missing = await ex.pull(`127.0.0.1:${port}/fleet-test/absent:1`).catch((e) => e);
  assert.ok(["image_not_found", "pull_failed"].includes(missing.code), String(missing));

  // The worker pulls a missing image while PREPARING and then runs the task.
  const wref = publish(port, "worker");
  const sink = new RecordingSink();
  const worker = new Worker({ executor: ex, nodeId: `pull${process.pid}`, sink });
  worker.setOnline(true);
  const spec = { image: wref, args: ["sleep", "300"], labels: { "fleet.test": VALUE } };
  worker.setAssignment({ version: 1, tasks: [task(`p${process.pid}`, spec)] });
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < 600 && sink.last(`p${process.pid}`)?.state !== S.RUNNING; i++) {
    if (Date.now() > deadline) break;
    await worker.reconcile();
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(sink.last(`p${process.pid}`)?.state, S.RUNNING);
  const pulling = sink.updates.find((u) => u.message.startsWith(`pulling image ${wref}`));
  assert.equal(pulling?.state, S.PREPARING);
});
