// The real `fleet` binary against real managers: a three-manager cluster (test/e2e/managers.ts)
// with simulated agents on a follower's broker, and the CLI bundled once per test file (as
// dist/fleet.mjs is built) and run as a child process pointed at one manager's socket.

import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { SimAgent } from "../../manager/dispatcher/sim-agent.ts";
import { Managers } from "./managers.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI, bundled from manager/cli/main.ts into a temp dir (one esbuild run, ~1 s). */
export async function bundleCli(dir: string): Promise<string> {
  const out = join(dir, "fleet.mjs");
  await build({
    entryPoints: [join(ROOT, "manager/cli/main.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return out;
}

function childEnv(host: string | undefined, extra: Record<string, string> = {}) {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  delete env.FLEET_HOST;
  if (host !== undefined) env.FLEET_HOST = host;
  return env;
}

export class CliCluster {
  readonly managers = new Managers();
  readonly agents: SimAgent[] = [];
  readonly #tmp = mkdtempSync(join(tmpdir(), "fleet-cli-e2e-"));
  #bin = "";
  leader = 0;

  /**
   * Three managers elected and registered, `agents` simulated agents attached and beating.
   * The bounds are generous: three managers compiling through tsx on a loaded 2-core machine
   * took over a minute to elect in one run.
   */
  async start(agents: string[] = ["edge-1", "edge-2"]): Promise<void> {
    const [bin] = await Promise.all([bundleCli(this.#tmp), this.managers.init(3)]);
    this.#bin = bin;
    for (const id of [1, 2, 3]) this.managers.start(id);
    this.leader = await this.managers.leader(120_000);
    await this.managers.waitFor(
      "three managers registered",
      async () => {
        const r = await this.managers.api<{ managerStatus?: unknown }[]>(
          this.leader,
          "GET",
          "/v1/nodes",
        );
        return r.body.filter((n) => n.managerStatus).length === 3 ? true : undefined;
      },
      120_000,
    );
    const m = this.managers.members.get(this.follower())!;
    for (const nodeId of agents) {
      const a = await SimAgent.start({
        url: `mqtt://127.0.0.1:${m.brokerPort}`,
        clusterId: this.managers.clusterId,
        nodeId,
      });
      a.startHeartbeats(1000);
      this.agents.push(a);
    }
    await this.managers.waitFor(
      "the agents registered as ready nodes",
      async () => {
        const r = await this.managers.api<{ id: string; status: { state: string } }[]>(
          this.leader,
          "GET",
          "/v1/nodes",
        );
        return agents.every((n) => r.body.some((x) => x.id === n && x.status.state === "ready"))
          ? true
          : undefined;
      },
      60_000,
    );
  }

  /** A running manager that is not the leader. */
  follower(): number {
    return this.managers.running().find((id) => id !== this.leader)!;
  }

  socket(id: number): string {
    return `unix://${join(this.managers.members.get(id)!.dir, "fleet.sock")}`;
  }

  /** Runs `fleet ARGS` against manager `id` (through FLEET_HOST); never rejects. */
  fleet(id: number, args: string[], timeoutMs = 60_000): Promise<Result> {
    return runBin(this.#bin, args, childEnv(this.socket(id)), timeoutMs);
  }

  /** Runs `fleet ARGS` with the environment given (no FLEET_HOST unless set there). */
  fleetRaw(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
    return runBin(this.#bin, args, childEnv(undefined, env), timeoutMs);
  }

  /** A long-running `fleet ARGS` (events, logs --follow, monitor); stop it with kill(). */
  spawn(id: number | undefined, args: string[]) {
    const env = childEnv(id === undefined ? undefined : this.socket(id));
    const child = spawn(process.execPath, [this.#bin, ...args], { cwd: ROOT, env });
    const out = { stdout: "", stderr: "" };
    child.stdout.on("data", (d) => {
      out.stdout += d;
    });
    child.stderr.on("data", (d) => {
      out.stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    return { child, out, exited };
  }

  get binary(): string {
    return this.#bin;
  }

  async close(): Promise<void> {
    for (const a of this.agents) await a.stop().catch(() => {});
    await this.managers.close();
    rmSync(this.#tmp, { recursive: true, force: true });
  }
}

export function runBin(
  bin: string,
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 60_000,
): Promise<Result> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: ROOT, env, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** Polls `fn` until it returns something truthy, or fails naming `what` after `timeoutMs`. */
export async function until<T>(
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
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
