// `fleet join` with a WORKER token on a full install (the edge agent shipped next to the CLI):
// this host becomes a worker, as `docker swarm join` with a worker token makes it one. The
// manager daemon's join is refused by the CA with "worker join token"; the launcher then runs
// `edge-agent join` into the same data dir and starts `edge-agent run` detached (log and pid in
// `<data-dir>/agent.log`, `<data-dir>/agent.pid`). `fleet leave` on such a node stops the agent,
// removes this node's fleet containers from the local engine and the data dir.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError } from "./client.ts";
import type { JoinOptions, JoinResult } from "./launcher.ts";

const CONNECT_TIMEOUT_MS = 60_000;

const pidFile = (dir: string) => join(dir, "agent.pid");
const logFile = (dir: string) => join(dir, "agent.log");
const configFile = (dir: string) => join(dir, "agent.json");

/**
 * How to run the agent: FLEET_AGENT_BIN, else dist/edge-agent.mjs next to a bundled CLI, else
 * edge-agent/main.ts through tsx when the CLI runs from the sources; undefined when this is a
 * manager-only install.
 */
export function agentCommand(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (env.FLEET_AGENT_BIN) return [env.FLEET_AGENT_BIN];
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, "edge-agent.mjs");
  if (existsSync(bundled)) return [bundled];
  const sources = join(here, "..", "..", "edge-agent", "main.ts");
  if (here.endsWith(join("manager", "cli")) && existsSync(sources))
    return ["--import", "tsx", sources];
  return undefined;
}

/** True when the data dir belongs to an edge agent (joined by `fleet join` or `edge-agent`). */
export function isAgentDir(dir: string): boolean {
  return existsSync(configFile(dir)) || existsSync(pidFile(dir));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningAgent(dir: string): number | undefined {
  if (!existsSync(pidFile(dir))) return undefined;
  const pid = Number(readFileSync(pidFile(dir), "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

function tail(dir: string, lines = 15): string {
  try {
    return readFileSync(logFile(dir), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Joins by token with `edge-agent join`, then runs the agent detached until it is connected. */
export async function joinAsAgent(cmd: string[], o: JoinOptions): Promise<JoinResult> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const joined = spawnSync(
    process.execPath,
    [...cmd, "join", "--token", o.token, "--data-dir", o.dataDir, ...o.remotes],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (joined.status !== 0)
    throw new CliError(
      `the edge agent could not join: ${(joined.stderr || joined.stdout || String(joined.error ?? "")).trim()}`,
    );
  const config = JSON.parse(readFileSync(configFile(o.dataDir), "utf8")) as { nodeId: string };
  const out = openSync(logFile(o.dataDir), "a", 0o600);
  const child = spawn(process.execPath, [...cmd, "run", "--data-dir", o.dataDir], {
    detached: true,
    stdio: ["ignore", out, out],
  });
  child.unref();
  if (child.pid === undefined) throw new CliError("could not start the edge agent");
  writeFileSync(pidFile(o.dataDir), `${child.pid}\n`, { mode: 0o600 });
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(child.pid)) throw new CliError(`the edge agent stopped:\n${tail(o.dataDir)}`);
    if (/edge-agent: connected to /.test(readFileSync(logFile(o.dataDir), "utf8")))
      return { nodeId: config.nodeId, role: "worker" };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new CliError(
    `the edge agent joined as ${config.nodeId} but did not connect within ` +
      `${CONNECT_TIMEOUT_MS / 1000} s (it keeps trying; see ${logFile(o.dataDir)}):\n${tail(o.dataDir)}`,
  );
}

/** Stops the agent by its pid, removes this node's containers and the data dir. */
export async function leaveAsAgent(dir: string, say: (line: string) => void): Promise<void> {
  let nodeId: string | undefined;
  try {
    nodeId = (JSON.parse(readFileSync(configFile(dir), "utf8")) as { nodeId?: string }).nodeId;
  } catch {
    // no identity saved: nothing of ours can be running
  }
  const pid = runningAgent(dir);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 15_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
  if (nodeId) removeContainers(nodeId, say);
  rmSync(dir, { recursive: true, force: true });
}

/** The agent leaves containers running when it stops; leaving the cluster removes them. */
function removeContainers(nodeId: string, say: (line: string) => void): void {
  const ps = spawnSync("docker", ["ps", "-aq", "--filter", `label=fleet.node.id=${nodeId}`], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (ps.status !== 0) {
    say(
      `could not list this node's containers (docker: ${ps.error?.message ?? ps.stderr.trim()}); ` +
        `remove those labelled fleet.node.id=${nodeId} yourself`,
    );
    return;
  }
  const ids = ps.stdout.split("\n").filter(Boolean);
  if (ids.length === 0) return;
  const rm = spawnSync("docker", ["rm", "-f", ...ids], { encoding: "utf8", timeout: 60_000 });
  if (rm.status !== 0) say(`could not remove containers ${ids.join(" ")}: ${rm.stderr.trim()}`);
}
