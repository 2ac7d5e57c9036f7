// Dispatcher capacity against a real three-manager cluster: three manager processes on loopback
// (test/e2e/managers.ts: Raft, embedded aedes brokers in a mesh, the leader's dispatcher and
// orchestrator) and simulated agents (MQTT.js clients, manager/dispatcher/sim-fleet.ts) in
// child processes, spread evenly over the three brokers, heartbeating every period.
//
//   npm run bench -- dispatcher --agents 10000 [--procs 1] [--seconds 30] [--period 5000]
//
// Phases: connect and register every agent; a steady window of heartbeats only (leader CPU from
// /proc/<pid>/stat, messages/s the agents sent); then a global service puts one task on every
// agent, each reports RUNNING, and the RUNNING task events the leader publishes after commit
// give status-to-commit latency (event arrival minus the agent's status timestamp; one clock).
// Any DOWN event for an agent (all of them keep beating) is a false DOWN.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { Managers } from "../e2e/managers.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const here = dirname(fileURLToPath(import.meta.url));
const simFleet = join(here, "../../manager/dispatcher/sim-fleet.ts");
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ on Linux)

interface Progress {
  connected: number;
  failed: number;
  heartbeatsSent: number;
  statusSent: number;
  disconnected: number;
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

function openFilesLimit(): number {
  const r = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : 1024;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const load = () => Number(loadavg()[0]!.toFixed(1));

class Fleet {
  readonly children: { proc: ChildProcess; progress: Progress }[] = [];

  constructor(urls: string[], cid: string, agents: number, procs: number, periodMs: number) {
    const per = Math.ceil(agents / procs);
    for (let p = 0; p < procs && p * per < agents; p++) {
      const count = Math.min(per, agents - p * per);
      const args = ["--import", "tsx", simFleet, urls.join(","), cid, String(p * per)];
      const proc = spawn(process.execPath, [...args, String(count), String(periodMs)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const child = {
        proc,
        progress: { connected: 0, failed: 0, heartbeatsSent: 0, statusSent: 0, disconnected: 0 },
      };
      let rest = "";
      proc.stdout!.on("data", (d) => {
        const lines = (rest + String(d)).split("\n");
        rest = lines.pop()!;
        for (const l of lines) if (l.startsWith("{")) child.progress = JSON.parse(l);
      });
      this.children.push(child);
    }
  }

  sum(k: keyof Progress): number {
    return this.children.reduce((n, c) => n + c.progress[k], 0);
  }

  cpuSeconds(): number {
    return this.children.reduce((n, c) => n + cpuSecondsOf(c.proc.pid), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
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
}

/** Node and task events from the leader's broker: registrations, DOWNs, RUNNING latencies. */
async function watchEvents(url: string, cid: string) {
  const seen = {
    registered: new Set<string>(),
    down: new Set<string>(),
    latencies: [] as number[],
    elected: [] as string[],
  };
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 1000 });
  client.on("message", (topic, payload) => {
    const e = JSON.parse(String(payload)) as Record<string, unknown>;
    const id = String(e.nodeId ?? "");
    if (topic.endsWith("/node") && id.startsWith("sim-")) {
      if (e.action === "registered") seen.registered.add(id);
      if (e.action === "down") seen.down.add(id);
    } else if (topic.endsWith("/leader") && e.action === "elected") {
      seen.elected.push(String(e.managerId));
    } else if (topic.endsWith("/task") && e.state === "RUNNING" && e.previous !== "RUNNING") {
      seen.latencies.push(Date.now() - Number(e.timestamp));
    }
  });
  await client.subscribeAsync(
    [`fleet/${cid}/events/node`, `fleet/${cid}/events/task`, `fleet/${cid}/events/leader`],
    {
      qos: 0,
    },
  );
  return { seen, close: () => client.endAsync(true) };
}

export const bench: Bench = {
  description: "dispatcher capacity: simulated agents against three real manager processes",
  async run({ args, log }) {
    const requested = numberFlag(args, "agents", 1000);
    const procs = numberFlag(args, "procs", 1);
    const periodMs = numberFlag(args, "period", 5000);
    const seconds = numberFlag(args, "seconds", 30);
    const fdLimit = openFilesLimit();
    const agents = Math.min(requested, procs * (fdLimit - 256));
    if (agents < requested)
      log(`open-files limit ${fdLimit}: running ${agents} of ${requested} (raise ulimit -n)`);
    const loadStart = load();
    const c = new Managers();
    await c.init(3);
    const logDir = mkdtempSync(join(tmpdir(), "fleet-bench-dispatcher-"));
    for (const id of [1, 2, 3]) {
      c.start(id, ["--tick-ms", "100"]); // the daemon's default tick
      const file = join(logDir, `m${id}.log`);
      c.members.get(id)!.proc!.stderr!.on("data", (d) => appendFileSync(file, d));
    }
    log(`manager logs: ${logDir}`);
    let fleet: Fleet | undefined;
    let events: Awaited<ReturnType<typeof watchEvents>> | undefined;
    try {
      const leader = await c.leader(60_000);
      await c.waitFor(
        "three managers registered (the broker mesh forms from the store)",
        async () => {
          const r = await c.api<{ managerStatus?: unknown }[]>(leader, "GET", "/v1/nodes");
          return r.body.filter((n) => n.managerStatus).length === 3;
        },
        60_000,
      );
      if (periodMs !== 5000) {
        const cl = await c.api<{ version: number; spec: object }>(leader, "GET", "/v1/cluster");
        const spec = { ...cl.body.spec, heartbeatPeriodMs: periodMs };
        await c.api(leader, "POST", `/v1/cluster/update?version=${cl.body.version}`, spec);
      }
      const pid = (id: number) => c.members.get(id)!.proc!.pid;
      const brokerUrl = (id: number) => `mqtt://127.0.0.1:${c.members.get(id)!.brokerPort}`;
      events = await watchEvents(brokerUrl(leader), c.clusterId);
      const seen = events.seen;
      const cpu = () => [1, 2, 3].map((id) => cpuSecondsOf(pid(id)));

      // 1. Connect and register, a third of the agents on each manager's broker.
      const t0 = Date.now();
      const cpu0 = cpu();
      fleet = new Fleet([1, 2, 3].map(brokerUrl), c.clusterId, agents, procs, periodMs);
      const f = fleet;
      const progress = setInterval(() => {
        const down = c.running().length < 3 ? ` MANAGERS RUNNING: ${c.running()}` : "";
        log(`  ${f.sum("connected")} connected, ${seen.registered.size} registered${down}`);
      }, 10_000);
      await until(
        () =>
          (f.sum("connected") + f.sum("failed") >= agents &&
            seen.registered.size >= f.sum("connected")) ||
          c.running().length < 3,
        Math.max(120_000, agents * 60),
      ).finally(() => clearInterval(progress));
      if (c.running().length < 3) throw new Error("a manager exited during registration");
      const connectSeconds = (Date.now() - t0) / 1000;
      const registerLeaderCpu = cpu()[leader - 1]! - cpu0[leader - 1]!;
      log(
        `registered ${seen.registered.size} of ${f.sum("connected")} connected ` +
          `(${f.sum("failed")} connects failed) in ${connectSeconds.toFixed(1)} s`,
      );

      // 2. Steady state: heartbeats only.
      await sleep(periodMs);
      const [c0, hb0, ag0, w0] = [cpu(), f.sum("heartbeatsSent"), f.cpuSeconds(), Date.now()];
      await sleep(seconds * 1000);
      const wall = (Date.now() - w0) / 1000;
      const c1 = cpu();
      const pct = (s: number, over = wall) => Number(((100 * s) / over).toFixed(1));
      const leaderCpuPercent = pct(c1[leader - 1]! - c0[leader - 1]!);
      const followers = [1, 2, 3].filter((id) => id !== leader);
      const followerCpuPercent = followers.map((id) => pct(c1[id - 1]! - c0[id - 1]!));
      const agentsCpuPercent = pct(f.cpuSeconds() - ag0);
      const messagesPerSec = Math.round((f.sum("heartbeatsSent") - hb0) / wall);
      const loadSteady = load();
      log(`steady: leader ${leaderCpuPercent} % CPU, ${messagesPerSec} heartbeats/s sent`);

      // 3. Status: a global service puts one task on every agent; each reports RUNNING.
      const s0 = Date.now();
      const sc0 = cpu()[leader - 1]!;
      const created = await c.api(leader, "POST", "/v1/services/create", {
        name: "bench",
        mode: { global: {} },
        taskTemplate: {
          containerSpec: { image: "busybox" },
          placement: { constraints: ["node.role==worker"] },
        },
      });
      if (created.status !== 201)
        throw new Error(`service create: ${JSON.stringify(created.body)}`);
      const registered = seen.registered.size;
      const allRunning = await until(() => seen.latencies.length >= registered, 300_000);
      const statusSeconds = (Date.now() - s0) / 1000;
      const statusLeaderCpuPercent = pct(cpu()[leader - 1]! - sc0, statusSeconds);
      const sorted = [...seen.latencies].sort((a, b) => a - b);
      const leaderAtEnd = await c.leader(10_000).catch(() => 0);
      const nodes = await c.api<{ id: string; status: { state: string } }[]>(
        leaderAtEnd || leader,
        "GET",
        "/v1/nodes",
      );
      const downAtEnd = nodes.body.filter((n) => n.status.state !== "ready").length;
      const result = {
        agents: f.sum("connected"),
        requestedAgents: requested,
        procs,
        heartbeatPeriodMs: periodMs,
        connectSeconds: Number(connectSeconds.toFixed(1)),
        registeredAgents: registered,
        registerLeaderCpuSeconds: Number(registerLeaderCpu.toFixed(1)),
        messagesPerSec,
        expectedMessagesPerSec: Math.round(f.sum("connected") / (periodMs / 1000)),
        leaderCpuPercent,
        followerCpuPercent,
        agentsCpuPercent,
        statusTasksRunning: seen.latencies.length,
        allRunning,
        statusSeconds: Number(statusSeconds.toFixed(1)),
        statusLeaderCpuPercent,
        statusCommitP50Ms: percentile(sorted, 50),
        statusCommitP99Ms: percentile(sorted, 99),
        falseDown: seen.down.size,
        notReadyAtEnd: downAtEnd,
        leaderChanged: leaderAtEnd !== leader,
        leaderElections: seen.elected.length,
        disconnectedAgents: f.sum("disconnected"),
        failedConnects: f.sum("failed"),
        loadAverage1m: { start: loadStart, steady: loadSteady, end: load() },
        cores: availableParallelism(),
      };
      log(
        table([
          ["measure", "value"],
          ["agents connected", `${result.agents} (${procs} process(es), 3 brokers)`],
          ["connect + register", `${result.connectSeconds} s`],
          ["heartbeats/s sent", `${messagesPerSec} (expected ${result.expectedMessagesPerSec})`],
          ["leader CPU (steady)", `${leaderCpuPercent} % of one core`],
          ["followers CPU (steady)", followerCpuPercent.map((p) => `${p} %`).join(", ")],
          ["agents CPU", `${agentsCpuPercent} %`],
          ["tasks RUNNING", `${result.statusTasksRunning} in ${result.statusSeconds} s`],
          ["leader CPU (status)", `${statusLeaderCpuPercent} %`],
          [
            "status->commit p50/p99",
            `${result.statusCommitP50Ms} / ${result.statusCommitP99Ms} ms`,
          ],
          ["false DOWN", `${result.falseDown} (not ready at end: ${downAtEnd})`],
          ["leader changed", `${result.leaderChanged} (${seen.elected.length} elections seen)`],
          [
            "load average 1 min",
            `${loadStart} / ${loadSteady} / ${result.loadAverage1m.end} on ${result.cores} cores`,
          ],
        ]),
      );
      return result;
    } catch (err) {
      for (const m of c.members.values()) {
        const exit = m.proc?.exitCode ?? m.proc?.signalCode ?? "running";
        log(
          `--- manager ${m.raftId} (exit: ${exit}), log ${logDir}/m${m.raftId}.log\n${m.log.slice(-1500)}`,
        );
      }
      throw err;
    } finally {
      await fleet?.stop();
      await events?.close();
      await c.close();
    }
  },
};
