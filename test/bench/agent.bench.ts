// The edge agent's footprint and speed, measured on the bundle (dist/edge-agent.mjs, rebuilt
// first) against real mosquitto and the real Docker engine, with a fake manager:
//   bundleBytes         size of the one file flashed onto boards (budget 600 KB)
//   startToConnectedMs  process spawn -> "connected" on stdout, median of --starts runs (1 s)
//   rssBytes            resident memory after --idle-ms connected and idle (budget 60 MB)
//   assignToRunningMs   assign published -> RUNNING status received, median of --runs tasks
//   dockerRunMs         `docker run -d` of the same image and command, median, same run
// `npm run bench -- agent [--json] [--runs N] [--starts N] [--idle-ms MS]`

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskState } from "../../core/model/task-state.ts";
import { FakeManager } from "../../edge-agent/session/testing.ts";
import { task } from "../../edge-agent/worker/testing.ts";
import { ensureTestImage, have, removeTestContainers, startMosquitto } from "../support/real.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const root = join(import.meta.dirname, "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");
const LABEL = "bench-agent";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function rssOf(pid: number): number {
  const m = /^VmRSS:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

interface Started {
  proc: ChildProcess;
  ms: number;
}

/** Spawns the bundle and resolves once it prints that it is connected (30 s at most). */
function startAgent(dataDir: string, port: number, nodeId: string): Promise<Started> {
  const args = [BUNDLE, "run", "--data-dir", dataDir, "--cluster", "bench", "--node-id", nodeId];
  args.push("--broker", `mqtt://127.0.0.1:${port}`, "--poll-ms", "1000");
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error("agent did not connect within 30 s"));
    }, 30_000);
    proc.stdout!.on("data", (d) => {
      if (!String(d).includes("edge-agent: connected to")) return;
      clearTimeout(timer);
      resolve({ proc, ms: performance.now() - t0 });
    });
    proc.once("exit", (code) => reject(new Error(`agent exited (${code}) before connecting`)));
  });
}

function stopAgent(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.once("exit", () => r());
    p.kill("SIGTERM");
  });
}

function dockerRunMs(image: string, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync("docker", [
      "run",
      "-d",
      "--label",
      `fleet.test=${LABEL}`,
      image,
      "sleep",
      "300",
    ]);
    if (r.status !== 0) throw new Error(`docker run failed: ${r.stderr}`);
    times.push(performance.now() - t0);
  }
  removeTestContainers(LABEL);
  return median(times);
}

async function assignToRunning(
  mgr: FakeManager,
  nodeId: string,
  image: string,
  runs: number,
  log: (line: string) => void,
) {
  const times: number[] = [];
  const running = (id: string) =>
    mgr.statuses.some((m) =>
      m.updates.some((u) => u.taskId === id && u.state === TaskState.RUNNING),
    );
  for (let i = 0; i < runs; i++) {
    const id = `bench${Date.now().toString(36)}x${i}`;
    const spec = {
      image,
      args: ["sleep", "300"],
      labels: { "fleet.test": LABEL },
      stopGracePeriodMs: 0,
    };
    mgr.version++;
    mgr.tasks = [task(id, spec)];
    const t0 = performance.now();
    mgr.assign(nodeId);
    await mgr.until(`task ${id} RUNNING`, () => running(id), 60_000);
    times.push(performance.now() - t0);
    log(`assign -> RUNNING #${i + 1}: ${Math.round(times.at(-1)!)} ms`);
  }
  mgr.version++;
  mgr.tasks = [];
  mgr.assign(nodeId);
  return median(times);
}

export const bench: Bench = {
  description:
    "edge agent: bundle size, idle RSS, start-to-connected, assign-to-RUNNING vs docker run",
  async run({ args, log }) {
    for (const part of ["docker", "mosquitto", "busybox"] as const) {
      if (!have(part)) throw new Error(`bench agent needs ${part}`);
    }
    const runs = numberFlag(args, "runs", 5);
    const starts = numberFlag(args, "starts", 5);
    const idleMs = numberFlag(args, "idle-ms", 5000);
    const b = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { encoding: "utf8" });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    const bundleBytes = statSync(BUNDLE).size;
    const image = ensureTestImage();
    const mq = await startMosquitto();
    const mgr = new FakeManager("bench");
    const dir = mkdtempSync(join(tmpdir(), "fleet-bench-agent-"));
    const nodeId = `bench${process.pid}`;
    let agent: ChildProcess | undefined;
    try {
      await mgr.serve(`mqtt://127.0.0.1:${mq.port}`);
      const startTimes: number[] = [];
      for (let i = 0; i < starts; i++) {
        const s = await startAgent(join(dir, `d${i}`), mq.port, `${nodeId}s${i}`);
        startTimes.push(s.ms);
        await stopAgent(s.proc);
      }
      const s = await startAgent(join(dir, "main"), mq.port, nodeId);
      agent = s.proc;
      await new Promise((r) => setTimeout(r, idleMs));
      const rssBytes = rssOf(agent.pid!);
      const dockerMs = dockerRunMs(image, runs);
      const assignMs = await assignToRunning(mgr, nodeId, image, runs, log);
      const out = {
        bundleBytes,
        rssBytes,
        startToConnectedMs: Math.round(median(startTimes)),
        assignToRunningMs: Math.round(assignMs),
        dockerRunMs: Math.round(dockerMs),
      };
      log(
        table([
          ["figure", "value", "budget"],
          ["bundle", `${(bundleBytes / 1024).toFixed(0)} KB`, "600 KB"],
          ["idle RSS", `${(rssBytes / 2 ** 20).toFixed(1)} MB`, "60 MB"],
          ["start to connected", `${out.startToConnectedMs} ms`, "1000 ms"],
          ["assign to RUNNING", `${out.assignToRunningMs} ms`, ""],
          ["docker run -d", `${out.dockerRunMs} ms`, ""],
          ["ratio", (assignMs / dockerMs).toFixed(2), ""],
        ]),
      );
      return out;
    } finally {
      if (agent) await stopAgent(agent);
      await mgr.close();
      await mq.stop();
      removeTestContainers(LABEL);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
