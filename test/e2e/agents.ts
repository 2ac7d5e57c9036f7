// Real edge agents for end-to-end tests: the built bundle (dist/edge-agent.mjs, rebuilt once per
// test file) or the sources through tsx, each with its own data dir and labels, talking plain
// MQTT to managers on loopback (test/e2e/managers.ts), or joined to a secure cluster by token
// (`join`) and then run from their data dir over mqtts. Agents are stopped by pid; their
// containers are found and removed by the fleet.node.id label the agent puts on every one.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Managers } from "./managers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");

/** Builds dist/ (the agent bundle among them); throws with esbuild's output on failure. */
export function buildBundle(): void {
  const r = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}

export interface AgentOptions {
  /** Operator labels (`--label k=v`); `hw.storage: "ssd"` overrides the detected fact. */
  labels?: Record<string, string>;
  /** Manager raft ids whose brokers the agent is given, in order (default: all). */
  brokers?: number[];
  heartbeatMs?: number;
  /** Default 30 s: the engine's events (and the worker's wake-ups) must carry the tests. */
  pollMs?: number;
  offlineAfterMs?: number;
  extra?: string[];
  /** Runs the bundle through this command (e.g. qemu-user and an arm64 node) instead. */
  command?: string[];
  /** Set by `join`: the agent runs from its data dir (identity, brokers, TLS from the join). */
  joined?: boolean;
}

export interface AgentProc {
  name: string;
  nodeId: string;
  dir: string;
  options: AgentOptions;
  proc?: ChildProcess;
  log: string;
}

/** One container of an agent, as `docker inspect` shows it. */
export interface Seen {
  id: string;
  taskId: string;
  serviceId: string;
  running: boolean;
  startedAt: string;
  restartCount: number;
}

export class Agents {
  readonly root = mkdtempSync(join(tmpdir(), "fleet-e2e-agents-"));
  readonly agents = new Map<string, AgentProc>();
  /** Unique per test process, so parallel test files never share node ids or containers. */
  readonly tag = `p${process.pid}`;
  readonly #managers: Managers;
  readonly #bundle: boolean;
  /** What a waiting test saw last; shown when `until` times out. */
  note = "";

  constructor(managers: Managers, o: { bundle?: boolean } = {}) {
    this.#managers = managers;
    this.#bundle = o.bundle ?? true;
  }

  /** Declares an agent; its node id is `<name>-<tag>`. */
  add(name: string, options: AgentOptions = {}): AgentProc {
    const a: AgentProc = {
      name,
      nodeId: `${name}-${this.tag}`,
      dir: join(this.root, name),
      options,
      log: "",
    };
    this.agents.set(name, a);
    return a;
  }

  get(name: string): AgentProc {
    const a = this.agents.get(name);
    if (!a) throw new Error(`no agent ${name}`);
    return a;
  }

  #entry(o: AgentOptions): string[] {
    return this.#bundle || o.command
      ? [BUNDLE]
      : ["--import", "tsx", join(root, "edge-agent/main.ts")];
  }

  /**
   * `edge-agent join --token T --data-dir DIR BROKER…` (a secure cluster): resolves with the node
   * id the CA gave once the join wrote the agent's config; `start` then runs from that dir.
   */
  async join(name: string, token: string, brokers: string[], timeoutMs = 60_000): Promise<string> {
    const a = this.get(name);
    const args = [...this.#entry(a.options), "join", "--token", token, "--data-dir", a.dir];
    args.push("--hostname", `${name}-${this.tag}`, ...brokers);
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout?.on("data", (d) => {
      out = (out + d).slice(-10_000);
    });
    p.stderr?.on("data", (d) => {
      out = (out + d).slice(-10_000);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    const code = await new Promise<number | null>((r) => p.once("exit", r));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`edge-agent join ${name} exited ${code}:\n${out}`);
    const saved = JSON.parse(readFileSync(join(a.dir, "agent.json"), "utf8")) as { nodeId: string };
    a.nodeId = saved.nodeId;
    a.options.joined = true;
    return a.nodeId;
  }

  start(name: string): void {
    const a = this.get(name);
    if (this.alive(name)) throw new Error(`agent ${name} already runs`);
    const o = a.options;
    const args = [...this.#entry(o), "run", "--data-dir", a.dir];
    if (!o.joined) {
      args.push("--cluster", this.#managers.clusterId, "--node-id", a.nodeId);
      args.push("--hostname", a.nodeId);
      const ids = o.brokers ?? [...this.#managers.members.keys()];
      for (const id of ids) {
        const m = this.#managers.members.get(id)!;
        args.push("--broker", `mqtt://127.0.0.1:${m.brokerPort}`);
      }
    }
    for (const [k, v] of Object.entries(o.labels ?? {})) args.push("--label", `${k}=${v}`);
    args.push(
      "--heartbeat-ms",
      String(o.heartbeatMs ?? 500),
      "--poll-ms",
      String(o.pollMs ?? 30_000),
    );
    args.push("--offline-after-ms", String(o.offlineAfterMs ?? 3000), ...(o.extra ?? []));
    a.log = "";
    const [cmd, ...pre] = o.command ?? [process.execPath];
    a.proc = spawn(cmd!, [...pre, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    a.proc.stderr?.on("data", (d) => {
      a.log = (a.log + String(d)).slice(-30_000);
    });
  }

  alive(name: string): boolean {
    const p = this.get(name).proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Stops the agent process by its pid (SIGKILL: a crash; SIGTERM: a clean stop). */
  async kill(name: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.get(name).proc;
    if (!p || !this.alive(name)) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill(signal);
    });
  }

  /** The agent's containers, from the engine (not from fleet). */
  containers(name: string): Seen[] {
    const nodeId = this.get(name).nodeId;
    const ids = docker(["ps", "-aq", "--filter", `label=fleet.node.id=${nodeId}`])
      .split("\n")
      .filter(Boolean);
    if (ids.length === 0) return [];
    const out = spawnSync("docker", ["inspect", ...ids], { encoding: "utf8" });
    // A container removed between ps and inspect makes inspect fail for it only.
    const list = JSON.parse(out.stdout || "[]") as DockerInspect[];
    return list.map((c) => ({
      id: c.Id,
      taskId: c.Config.Labels["fleet.task.id"] ?? "",
      serviceId: c.Config.Labels["fleet.service.id"] ?? "",
      running: c.State.Running,
      startedAt: c.State.StartedAt,
      restartCount: c.RestartCount,
    }));
  }

  /** Running containers of the agent, optionally of one service. */
  running(name: string, serviceId?: string): Seen[] {
    return this.containers(name).filter(
      (c) => c.running && (serviceId === undefined || c.serviceId === serviceId),
    );
  }

  /** Waits for a condition; on timeout the error carries the agents' and managers' logs. */
  async until<T>(
    what: string,
    fn: () => Promise<T | undefined | false> | T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await Promise.resolve()
        .then(fn)
        .catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) {
        const logs = [...this.agents.values()]
          .map((a) => `--- agent ${a.name}\n${a.log.slice(-3000)}`)
          .join("\n");
        const mlogs = [...this.#managers.members.values()]
          .map((m) => `--- m${m.raftId}\n${m.log.slice(-2000)}`)
          .join("\n");
        throw new Error(
          `timed out waiting for ${what}\nlast seen: ${this.note}\n${logs}\n${mlogs}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Removes every container of every declared agent (by label). */
  removeContainers(): void {
    for (const a of this.agents.values()) {
      const ids = docker(["ps", "-aq", "--filter", `label=fleet.node.id=${a.nodeId}`])
        .split("\n")
        .filter(Boolean);
      if (ids.length > 0) docker(["rm", "-f", ...ids]);
    }
  }

  async close(): Promise<void> {
    for (const name of this.agents.keys()) await this.kill(name);
    this.removeContainers();
    rmSync(this.root, { recursive: true, force: true });
  }
}

interface DockerInspect {
  Id: string;
  RestartCount: number;
  Config: { Labels: Record<string, string> };
  State: { Running: boolean; StartedAt: string };
}

export function docker(args: string[]): string {
  return spawnSync("docker", args, { encoding: "utf8", timeout: 30_000 }).stdout ?? "";
}

// ---- API helpers -----------------------------------------------------------------------------

export interface TaskRow {
  id: string;
  serviceId: string;
  nodeId: string;
  slot?: number;
  desiredState: number;
  status: { state: number; message?: string; err?: string; containerStatus?: unknown };
}

export const RUNNING = 512;

/** Tasks of a service that run and are meant to (from the given manager's replica). */
export async function runningTasks(c: Managers, id: number, service: string): Promise<TaskRow[]> {
  const r = await c.api<TaskRow[]>(id, "GET", `/v1/tasks?service=${service}`);
  if (r.status !== 200) throw new Error(`tasks: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.filter((t) => t.status.state === RUNNING && t.desiredState === RUNNING);
}

/** Creates a replicated service through the API; its id. */
export async function createService(
  c: Managers,
  id: number,
  spec: Record<string, unknown>,
): Promise<string> {
  const r = await c.api<{ id: string }>(id, "POST", "/v1/services/create", spec);
  if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** Changes the replica count of a replicated service (read, modify, update with its version). */
export async function scale(c: Managers, id: number, ref: string, replicas: number) {
  for (let i = 0; i < 5; i++) {
    const s = await c.api<{ version: number; spec: Record<string, unknown> }>(
      id,
      "GET",
      `/v1/services/${ref}`,
    );
    const spec = { ...s.body.spec, mode: { replicated: { replicas } } };
    const r = await c.api(id, "POST", `/v1/services/${ref}/update?version=${s.body.version}`, spec);
    if (r.status === 200) return;
    if (r.status !== 409) throw new Error(`scale: ${r.status} ${JSON.stringify(r.body)}`);
  }
  throw new Error("scale: the service kept changing under the update");
}

/** Sets the cluster's heartbeat period (agents must beat at least this often). The cluster
 * object appears shortly after the first leader is elected: retried until then. */
export async function setHeartbeat(c: Managers, id: number, periodMs: number): Promise<void> {
  await c.waitFor(
    "the cluster's heartbeat period updated",
    async () => {
      const cur = await c.api<{ version: number; spec: Record<string, unknown> }>(
        id,
        "GET",
        "/v1/cluster",
      );
      if (cur.status !== 200) return undefined;
      const spec = { ...cur.body.spec, heartbeatPeriodMs: periodMs };
      const r = await c.api(id, "POST", `/v1/cluster/update?version=${cur.body.version}`, spec);
      return r.status === 200;
    },
    60_000,
  );
}

/** Waits until the leader knows every manager and the given agents as ready nodes. */
export async function clusterReady(c: Managers, agents: Agents, names: string[]): Promise<number> {
  const leader = await c.leader(60_000);
  await agents.until(
    `managers and agents ${names.join(", ")} ready`,
    async () => {
      const r = await c.api<{ id: string; managerStatus?: unknown; status: { state: string } }[]>(
        leader,
        "GET",
        "/v1/nodes",
      );
      const managers = r.body.filter((n) => n.managerStatus).length;
      const ready = new Set(r.body.filter((n) => n.status.state === "ready").map((n) => n.id));
      return managers === c.members.size && names.every((n) => ready.has(agents.get(n).nodeId));
    },
    60_000,
  );
  return leader;
}
