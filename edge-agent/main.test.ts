// The agent as a real process (edge-agent/main.ts through tsx) against real mosquitto, a fake
// manager and the real Docker engine: run, survive its own restart (adoption), keep running
// and restarting with every manager gone, resync and follow the manager when it is back.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TaskState as S } from "../core/model/task-state.ts";
import {
  ensureTestImage,
  freePort,
  need,
  removeTestContainers,
  TEST_LABEL,
} from "../test/support/real.ts";
import { FakeManager } from "./session/testing.ts";
import { task } from "./worker/testing.ts";

const VALUE = `agent-main-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "fleet-agent-main-"));
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  removeTestContainers(VALUE);
  rmSync(dir, { recursive: true, force: true });
});

function broker(port: number): ChildProcess {
  const conf = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const p = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  procs.push(p);
  return p;
}

function agent(port: number): ChildProcess {
  const args = ["--import", "tsx", join(import.meta.dirname, "main.ts"), "run"];
  args.push("--data-dir", join(dir, "data"), "--cluster", "c1", "--node-id", `n${process.pid}`);
  args.push("--broker", `mqtt://127.0.0.1:${port}`, "--poll-ms", "200", "--heartbeat-ms", "200");
  args.push("--offline-after-ms", "1500", "--label", "site=lab");
  const p = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  procs.push(p);
  return p;
}

async function stop(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise((r) => {
    p.once("exit", r);
    p.kill(signal);
  });
}

function inspect(id: string): { running: boolean; restarts: string } {
  const r = spawnSync("docker", ["inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", id], {
    encoding: "utf8",
  });
  const [running, started] = r.stdout.trim().split(" ");
  return { running: running === "true", restarts: started ?? "" };
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000 && !ok(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("agent process: run, adopt after restart, autonomy offline, resync", async (t) => {
  if (!need(t, "docker", "busybox", "mosquitto")) return;
  const image = ensureTestImage();
  const port = await freePort();
  const nodeId = `n${process.pid}`;
  const spec = { image, args: ["sleep", "300"], labels: { [TEST_LABEL]: VALUE } };
  const t1 = task(
    `t${process.pid}`,
    { ...spec, stopGracePeriodMs: 500 },
    {
      restartPolicy: { condition: "any", delayMs: 0, maxAttempts: 0, windowMs: 0 },
    },
  );

  let mq = broker(port);
  let mgr = new FakeManager("c1");
  await until(
    "broker up",
    () => spawnSync("mosquitto_pub", ["-p", String(port), "-t", "x", "-m", "x"]).status === 0,
  );
  await mgr.serve(`mqtt://127.0.0.1:${port}`);
  mgr.tasks = [t1];
  let a = agent(port);
  await mgr.until(
    "RUNNING",
    () => mgr.statuses.some((m) => m.updates.some((u) => u.state === S.RUNNING)),
    60_000,
  );
  assert.equal(mgr.hellos[0]?.description.engineLabels.site, "lab");
  const id = mgr.statuses.flatMap((m) => m.updates).find((u) => u.containerId)!.containerId!;
  assert.equal(inspect(id).running, true);

  // The agent restarts: the container is adopted (same id), nothing is recreated.
  await stop(a);
  assert.equal(inspect(id).running, true, "containers outlive the agent");
  // The first agent may have said hello more than once (it repeats until a manager answers).
  const seen = mgr.hellos.length;
  a = agent(port);
  await mgr.until("a hello from the restarted agent", () => mgr.hellos.length > seen);
  const again = mgr.hellos[seen]!;
  assert.equal(again.assignVersion, 1);
  assert.equal(again.tasks?.[0]?.state, S.RUNNING);
  assert.equal(again.tasks?.[0]?.containerId, id);

  // Every manager gone, the agent restarted: the container still runs; killed, it comes back.
  await mgr.close();
  await stop(mq);
  await stop(a);
  a = agent(port);
  const before = inspect(id).restarts;
  spawnSync("docker", ["kill", id], { stdio: "ignore" });
  await until("offline restart", () => inspect(id).running && inspect(id).restarts !== before);

  // A manager is back: hello reports what happened; the new assignment is followed.
  mq = broker(port);
  mgr = new FakeManager("c1");
  await until(
    "broker up again",
    () => spawnSync("mosquitto_pub", ["-p", String(port), "-t", "x", "-m", "x"]).status === 0,
  );
  mgr.version = 2;
  mgr.tasks = [{ ...t1, desiredState: S.SHUTDOWN }];
  await mgr.serve(`mqtt://127.0.0.1:${port}`);
  await mgr.until("resync hello", () => mgr.hellos.length >= 1, 60_000);
  const resync = mgr.hellos[0]!.tasks?.[0];
  assert.equal(resync?.state, S.RUNNING);
  assert.match(resync?.message ?? "", /restarted by the agent while offline/);
  await mgr.until("SHUTDOWN", () =>
    mgr.statuses.some((m) => m.updates.some((u) => u.state === S.SHUTDOWN)),
  );
  assert.equal(inspect(id).running, false);
  mgr.version = 3;
  mgr.tasks = [];
  mgr.assign(nodeId);
  await until("container removed", () => spawnSync("docker", ["inspect", id]).status !== 0);
  await stop(a);
  await mgr.close();
  await stop(mq);
});
