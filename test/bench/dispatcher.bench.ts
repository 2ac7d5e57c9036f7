// Dispatcher capacity: simulated agents (MQTT.js clients in child processes) heartbeating
// against a real mosquitto started here, and one dispatcher in this process on a LocalWriter.
// Reports heartbeats/s processed against the expected rate, the dispatcher's CPU (this process
// only; mosquitto's and the agents' separately), status throughput and status-to-commit
// latency, and any node falsely marked DOWN.
//
//   npm run bench -- dispatcher --agents 10000 [--procs 2] [--period 5000] [--seconds 30]

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { makeCluster, makeService, makeTask } from "../../core/model/fixtures.ts";
import { TaskState } from "../../core/model/task-state.ts";
import type { Task } from "../../core/model/types.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { Dispatcher } from "../../manager/dispatcher/dispatcher.ts";
import { silentLogger } from "../../manager/dispatcher/log.ts";
import { MqttBus } from "../../manager/dispatcher/mqtt-bus.ts";
import { have, startMosquitto } from "../support/real.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const CLUSTER = "bench";
const here = dirname(fileURLToPath(import.meta.url));
const simFleet = join(here, "../../manager/dispatcher/sim-fleet.ts");
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ on Linux)

interface Child {
  proc: ChildProcess;
  progress: {
    connected: number;
    failed: number;
    heartbeatsSent: number;
    statusSent: number;
    assignments: number;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** CPU seconds used so far by a process (user + system), from /proc. */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function openFilesLimit(): number {
  const r = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : 1024;
}

function spawnAgents(url: string, agents: number, procs: number, periodMs: number): Child[] {
  const per = Math.ceil(agents / procs);
  const children: Child[] = [];
  for (let p = 0; p < procs && p * per < agents; p++) {
    const count = Math.min(per, agents - p * per);
    const args = ["--import", "tsx", simFleet, url, CLUSTER, String(p * per), String(count)];
    const proc = spawn(process.execPath, [...args, String(periodMs)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const child: Child = {
      proc,
      progress: { connected: 0, failed: 0, heartbeatsSent: 0, statusSent: 0, assignments: 0 },
    };
    let rest = "";
    proc.stdout!.on("data", (d) => {
      const lines = (rest + String(d)).split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l.startsWith("{")) child.progress = JSON.parse(l);
    });
    children.push(child);
  }
  return children;
}

async function stopChildren(children: Child[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.proc.exitCode !== null) return resolve();
          const kill = setTimeout(() => c.proc.kill("SIGKILL"), 15_000);
          c.proc.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          c.proc.kill("SIGTERM");
        }),
    ),
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Status-to-commit latency, measured when each RUNNING status is applied to the store. */
function latencyProbe(store: Store): { samples: number[]; lastSent: number } {
  const probe = { samples: [] as number[], lastSent: 0 };
  const samples = probe.samples;
  store.watch({
    tables: ["tasks"],
    kinds: ["update"],
    where: (e) => {
      const t = (e as { object: Task }).object;
      const old = (e as { old?: Task }).old;
      if (t.status.state === TaskState.RUNNING && old?.status.state !== TaskState.RUNNING) {
        samples.push(Date.now() - t.status.timestamp);
        probe.lastSent = Math.max(probe.lastSent, t.status.timestamp);
      }
      return false;
    },
  });
  return probe;
}

async function placeTasks(writer: LocalWriter, nodes: string[]): Promise<void> {
  await writer.update((tx) => tx.create("services", makeService("bench", { name: "bench" })));
  await writer.batch((b) => {
    nodes.forEach((nodeId, i) => {
      const task = makeTask(`bench.${i + 1}`, "bench", {
        slot: i + 1,
        nodeId,
        status: { state: TaskState.ASSIGNED, timestamp: 0, message: "assigned" },
      });
      b.update((tx) => tx.create("tasks", task));
    });
  });
}

export const bench: Bench = {
  description: "dispatcher capacity: simulated agents heartbeating against a real mosquitto",
  async run({ args, log }) {
    if (!have("mosquitto"))
      throw new Error("bench dispatcher needs mosquitto (apt-get install mosquitto)");
    const requested = numberFlag(args, "agents", 1000);
    const procs = numberFlag(args, "procs", 2);
    const periodMs = numberFlag(args, "period", 5000);
    const seconds = numberFlag(args, "seconds", 30);
    const fdLimit = openFilesLimit();
    const agents = Math.min(requested, fdLimit - 256);
    if (agents < requested) {
      log(
        `open-files limit ${fdLimit}: running ${agents} of ${requested} agents (raise ulimit -n)`,
      );
    }
    const mosq = await startMosquitto(
      "max_connections -1\nmax_queued_messages 100000\nmax_inflight_messages 0\n",
    );
    const url = `mqtt://127.0.0.1:${mosq.port}`;
    const store = new Store();
    const spec = { ...makeCluster().spec, heartbeatPeriodMs: periodMs };
    store.update((tx) => tx.create("clusters", makeCluster(CLUSTER, { spec })));
    const writer = new LocalWriter(store);
    const bus = await MqttBus.connect({ url });
    const dispatcher = new Dispatcher({ writer, bus, clusterId: CLUSTER, logger: silentLogger });
    await dispatcher.start();
    const latencies = latencyProbe(store);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    const children = spawnAgents(url, agents, procs, periodMs);
    const connected = () => children.reduce((n, c) => n + c.progress.connected, 0);
    const failedConnects = () => children.reduce((n, c) => n + c.progress.failed, 0);
    const ready = () => store.view((tx) => tx.count("nodes", { index: "state", key: "ready" }));
    try {
      // 1. Connect and register.
      const t0 = Date.now();
      const cpu0 = selfCpuSeconds();
      await until(
        () => connected() + failedConnects() >= agents && ready() >= connected(),
        Math.max(120_000, agents * 30),
      );
      const connectSeconds = (Date.now() - t0) / 1000;
      const registerCpu = selfCpuSeconds() - cpu0;
      log(
        `registered ${ready()} nodes (${failedConnects()} connects failed) ` +
          `in ${connectSeconds.toFixed(1)} s`,
      );

      // 2. Steady state: heartbeats only.
      await sleep(periodMs);
      const hb0 = dispatcher.stats().heartbeats;
      const [self0, mq0] = [selfCpuSeconds(), cpuSecondsOf(mosq.process.pid)];
      const ag0 = children.reduce((n, c) => n + cpuSecondsOf(c.proc.pid), 0);
      const w0 = Date.now();
      await sleep(seconds * 1000);
      const wall = (Date.now() - w0) / 1000;
      const heartbeatsPerSec = (dispatcher.stats().heartbeats - hb0) / wall;
      const cpuPct = (s: number) => Number(((100 * s) / wall).toFixed(1));
      const dispatcherCpuPercent = cpuPct(selfCpuSeconds() - self0);
      const mosquittoCpuPercent = cpuPct(cpuSecondsOf(mosq.process.pid) - mq0);
      const agentsCpuPercent = cpuPct(
        children.reduce((n, c) => n + cpuSecondsOf(c.proc.pid), 0) - ag0,
      );
      const expected = connected() / (periodMs / 1000);
      // Event-loop delay in a window of its own: the monitor costs ~1 % of a core itself.
      lag.enable();
      await sleep(periodMs);
      lag.disable();

      // 3. Status: one task per node, reported RUNNING by every agent.
      const nodes = store.view((tx) => tx.find("nodes")).map((n) => n.id);
      const writes0 = dispatcher.stats().storeWrites;
      const s0 = Date.now();
      const sc0 = selfCpuSeconds();
      await placeTasks(writer, nodes);
      const running = () =>
        store.view((tx) => tx.count("tasks", { index: "state", key: String(TaskState.RUNNING) }));
      const allRunning = await until(() => running() >= nodes.length, 120_000);
      const statusSeconds = (Date.now() - s0) / 1000;
      const statusCpuPercent = Number(
        ((100 * (selfCpuSeconds() - sc0)) / statusSeconds).toFixed(1),
      );
      const sorted = [...latencies.samples].sort((a, b) => a - b);
      const lastStatusSentSeconds = (latencies.lastSent - s0) / 1000;
      const st = dispatcher.stats();
      const result = {
        agents: connected(),
        requestedAgents: requested,
        procs,
        heartbeatPeriodMs: periodMs,
        connectSeconds: Number(connectSeconds.toFixed(1)),
        registerCpuSeconds: Number(registerCpu.toFixed(1)),
        heartbeatsPerSec: Math.round(heartbeatsPerSec),
        expectedHeartbeatsPerSec: Math.round(expected),
        dispatcherCpuPercent,
        leaderCpuPercent: dispatcherCpuPercent,
        mosquittoCpuPercent,
        agentsCpuPercent,
        eventLoopLagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)),
        statusUpdates: running(),
        allRunning,
        statusSeconds: Number(statusSeconds.toFixed(2)),
        lastStatusSentSeconds: Number(lastStatusSentSeconds.toFixed(2)),
        statusUpdatesPerSec: Math.round(running() / statusSeconds),
        statusStoreWrites: st.storeWrites - writes0,
        statusCpuPercent,
        statusCommitP50Ms: percentile(sorted, 50),
        statusCommitP99Ms: percentile(sorted, 99),
        falseDown: st.nodesDown,
        dropped: Object.values(st.dropped).reduce((a, b) => a + b, 0),
        failedConnects: failedConnects(),
        loadAverage1m: Number(loadavg()[0]!.toFixed(1)),
      };
      log(
        table([
          ["measure", "value"],
          ["agents connected", `${result.agents} (${procs} processes)`],
          ["connect + register", `${result.connectSeconds} s`],
          [
            "heartbeats/s processed",
            `${result.heartbeatsPerSec} (expected ${result.expectedHeartbeatsPerSec})`,
          ],
          ["dispatcher CPU (steady)", `${dispatcherCpuPercent} % of one core`],
          ["mosquitto CPU", `${mosquittoCpuPercent} %`],
          ["agents CPU (all children)", `${agentsCpuPercent} %`],
          ["event loop lag p99", `${result.eventLoopLagP99Ms} ms`],
          [
            "status updates",
            `${result.statusUpdates} in ${result.statusSeconds} s ` +
              `(${result.statusUpdatesPerSec}/s)`,
          ],
          ["last status sent after", `${result.lastStatusSentSeconds} s`],
          ["status store writes", result.statusStoreWrites],
          ["dispatcher CPU (status)", `${statusCpuPercent} %`],
          [
            "status->commit p50/p99",
            `${result.statusCommitP50Ms} / ${result.statusCommitP99Ms} ms`,
          ],
          ["false DOWN", result.falseDown],
          ["dropped inputs", result.dropped],
          [
            "machine load (1 min avg)",
            `${result.loadAverage1m} on ${availableParallelism()} cores`,
          ],
        ]),
      );
      return result;
    } finally {
      await stopChildren(children);
      await dispatcher.stop();
      await bus.close();
      await mosq.stop();
    }
  },
};
