// The DaemonLauncher of `fleet init`, `fleet join` and `fleet leave`: the manager daemon runs
// detached on this host, its log in `<data-dir>/manager.log` and its pid in
// `<data-dir>/manager.pid`. init and join wait until the daemon answers on its API socket (or
// say why it stopped, with the end of its log); leave asks the cluster to demote this manager
// (it then leaves the Raft group), stops the daemon by its pid and removes its state.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { agentCommand, isAgentDir, joinAsAgent, leaveAsAgent } from "./agent-launcher.ts";
import { CliError } from "./client.ts";
import type {
  DaemonLauncher,
  InitOptions,
  InitResult,
  JoinOptions,
  JoinResult,
  LeaveOptions,
} from "./launcher.ts";

const READY_TIMEOUT_MS = 90_000;

/** How to run the daemon: dist/manager.mjs next to a bundled CLI, else manager/main.ts. */
function daemonCommand(): string[] {
  const override = process.env.FLEET_MANAGER_BIN;
  if (override) return [override];
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, "manager.mjs");
  if (existsSync(bundled)) return [bundled];
  return ["--import", "tsx", join(here, "..", "main.ts")];
}

function hostPort(flag: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(":");
  const port = Number(v.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`--${flag}: "${v}" is not HOST:PORT`);
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ""), port };
}

/** Daemon flags shared by init and join. */
function commonFlags(o: InitOptions | JoinOptions): string[] {
  const listen = hostPort("listen-addr", o.listenAddr);
  const flags = ["--data-dir", o.dataDir, "--api-socket", o.apiSocket];
  flags.push("--listen-addr", listen.host, "--raft-port", String(listen.port));
  if (o.advertiseAddr) {
    const a = o.advertiseAddr.includes(":")
      ? hostPort("advertise-addr", o.advertiseAddr)
      : undefined;
    flags.push("--advertise-addr", a ? a.host : o.advertiseAddr);
  }
  if (o.brokerAddr) flags.push("--broker-port", String(hostPort("broker-addr", o.brokerAddr).port));
  if (o.broker) flags.push("--broker", o.broker);
  if (o.insecure) flags.push("--insecure");
  return flags;
}

const pidFile = (dir: string) => join(dir, "manager.pid");
const logFile = (dir: string) => join(dir, "manager.log");

function runningPid(dir: string): number | undefined {
  if (!existsSync(pidFile(dir))) return undefined;
  const pid = Number(readFileSync(pidFile(dir), "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function logTail(dir: string, lines = 15): string {
  try {
    return readFileSync(logFile(dir), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts the daemon detached and resolves with its pid. */
function startDetached(dir: string, flags: string[]): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = openSync(logFile(dir), "a", 0o600);
  const child = spawn(process.execPath, [...daemonCommand(), ...flags], {
    detached: true,
    stdio: ["ignore", out, out],
  });
  child.unref();
  if (child.pid === undefined) throw new CliError("could not start the manager daemon");
  writeFileSync(pidFile(dir), `${child.pid}\n`, { mode: 0o600 });
  return child.pid;
}

function apiGet<T>(socketPath: string, path: string, method = "GET", body?: unknown) {
  return new Promise<{ status: number; body: T }>((resolve, reject) => {
    const req = request(
      { socketPath, path, method, timeout: 5_000, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : {}) as T });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

interface Info {
  nodeId: string;
  clusterId: string;
}

/** Waits until the daemon answers `/v1/info` and `ready` accepts; fails if it exits first. */
async function waitReady<T>(
  dir: string,
  socket: string,
  pid: number,
  ready: (info: Info) => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      throw new CliError(`the manager daemon stopped:\n${logTail(dir)}`);
    }
    const info = await apiGet<Info>(socket, "/v1/info").catch(() => undefined);
    if (info?.status === 200) {
      const r = await ready(info.body).catch(() => undefined);
      if (r !== undefined) return r;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CliError(`the manager daemon did not become ready in time:\n${logTail(dir)}`);
}

function refuseIfMember(dir: string): void {
  if (existsSync(join(dir, "manager.json")) || runningPid(dir) !== undefined)
    throw new CliError(
      `${dir} already holds a manager (this node is part of a cluster): run \`fleet leave\` ` +
        "first, or use another --data-dir",
    );
}

export const launcher: DaemonLauncher = {
  async init(o: InitOptions): Promise<InitResult> {
    const restart = o.forceNewCluster && existsSync(join(o.dataDir, "manager.json"));
    if (!restart) refuseIfMember(o.dataDir);
    const flags = [...commonFlags(o), ...(restart ? ["--force-new-cluster"] : ["--init"])];
    if (o.caCurve) flags.push("--ca-curve", o.caCurve);
    if (o.clusterName && !restart) flags.push("--cluster-name", o.clusterName);
    if (o.apiAddr) flags.push("--api-port", String(hostPort("api-addr", o.apiAddr).port));
    const pid = startDetached(o.dataDir, flags);
    return waitReady(o.dataDir, o.apiSocket, pid, async (info) => {
      const t = await apiGet<{ worker: string; manager: string }>(o.apiSocket, "/v1/join-tokens");
      if (t.status !== 200) return undefined;
      const brokerPort = o.brokerAddr ? hostPort("broker-addr", o.brokerAddr).port : 1883;
      const host =
        o.advertiseAddr?.replace(/:\d+$/, "") ?? hostPort("listen-addr", o.listenAddr).host;
      return {
        nodeId: info.nodeId,
        clusterId: info.clusterId,
        workerToken: t.body.worker,
        managerToken: t.body.manager,
        // External mode: nodes join through the broker's join listener (fleet broker-config).
        joinAddr: o.broker ? "BROKER-JOIN-LISTENER:PORT" : `${host}:${brokerPort}`,
      };
    });
  },

  async join(o: JoinOptions): Promise<JoinResult> {
    refuseIfMember(o.dataDir);
    if (isAgentDir(o.dataDir))
      throw new CliError(
        `${o.dataDir} already holds an edge agent (this node is part of a cluster): run ` +
          "`fleet leave` first, or use another --data-dir",
      );
    const fresh = !existsSync(o.dataDir);
    const flags = [...commonFlags(o), "--join", o.token];
    for (const r of o.remotes) flags.push("--join-addr", r);
    const pid = startDetached(o.dataDir, flags);
    try {
      // Ready once its own registration is in its replica: it has caught up with the leader.
      return await waitReady(o.dataDir, o.apiSocket, pid, async (info) => {
        const n = await apiGet<{ status?: { state?: string } }>(
          o.apiSocket,
          `/v1/nodes/${info.nodeId}`,
        );
        if (n.status !== 200 || n.body.status?.state !== "ready") return undefined;
        return { nodeId: info.nodeId, role: "manager" as const };
      });
    } catch (err) {
      const text = (err as Error).message;
      rmSync(pidFile(o.dataDir), { force: true });
      const agent = /worker join token/.test(text) && !o.insecure ? agentCommand() : undefined;
      if (agent) {
        // The manager's attempt wrote only its log (the CA refused before any identity).
        if (fresh) rmSync(o.dataDir, { recursive: true, force: true });
        else rmSync(logFile(o.dataDir), { force: true });
        return joinAsAgent(agent, o);
      }
      if (/worker join token/.test(text))
        throw new CliError(
          "this is a worker join token: on a board, run the agent's join instead:\n" +
            `    edge-agent join --token ${o.token} --data-dir DIR ${o.remotes.join(" ")}`,
        );
      throw err;
    }
  },

  async leave(o: LeaveOptions): Promise<void> {
    if (isAgentDir(o.dataDir) && !existsSync(join(o.dataDir, "manager.json")))
      return leaveAsAgent(o.dataDir, o.warn ?? ((l) => process.stderr.write(`${l}\n`)));
    const socket = join(o.dataDir, "fleet.sock");
    const pid = runningPid(o.dataDir);
    if (!existsSync(join(o.dataDir, "manager.json")) && pid === undefined)
      throw new CliError(`${o.dataDir} holds no manager: this node is not part of a cluster`);
    if (pid !== undefined && (await demoteSelf(socket, o.force))) {
      if (!(await exits(pid, 30_000)) && !o.force)
        throw new CliError(
          "this manager is still in the Raft group after 30 s (would its removal lose the " +
            `quorum? see ${logFile(o.dataDir)}): use --force to leave anyway`,
        );
    }
    if (pid !== undefined) await stop(pid);
    rmSync(o.dataDir, { recursive: true, force: true });
  },
};

/** Asks the cluster to demote this manager; false when there was nothing to demote. */
async function demoteSelf(socket: string, force: boolean): Promise<boolean> {
  const info = await apiGet<Info>(socket, "/v1/info").catch(() => undefined);
  if (info?.status !== 200) {
    if (force) return false;
    throw new CliError("the manager does not answer on its socket: use --force to leave anyway");
  }
  type N = { id: string; version: number; spec: { role: string } };
  const node = await apiGet<N>(socket, `/v1/nodes/${info.body.nodeId}`);
  if (node.status === 200 && node.body.spec.role === "manager") {
    const r = await apiGet<unknown>(
      socket,
      `/v1/nodes/${node.body.id}/update?version=${node.body.version}`,
      "POST",
      { ...node.body.spec, role: "worker" },
    );
    if (r.status !== 200 && !force)
      throw new CliError(
        `the cluster refused to let this manager leave: ${errorText(r.body)} ` +
          "(use --force to leave anyway)",
      );
    return r.status === 200;
  }
  return false;
}

/** Waits for a demoted daemon to stop on its own (it does once out of the Raft group). */
async function exits(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function stop(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, "SIGKILL");
}

function errorText(body: unknown): string {
  const b = body as { error?: { message?: string }; message?: string };
  return b?.error?.message ?? b?.message ?? JSON.stringify(body);
}

export default launcher;
