// Real manager processes on loopback for end-to-end tests: spawn, call the API over each one's
// unix socket, SIGKILL, restart. Every process is stopped by its pid in close(). Clusters are
// founded statically (`start`: --initial-cluster --insecure) or, secure by default, with
// `startInit` and grown with `startJoin` by token; `start` then restarts any member from its
// data dir.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/real.ts";

const main = join(dirname(fileURLToPath(import.meta.url)), "../../manager/main.ts");

export interface Member {
  raftId: number;
  raftPort: number;
  brokerPort: number;
  dir: string;
  proc?: ChildProcess;
  log: string;
  /** How the member was first started; "static" (--initial-cluster) unless init/join. */
  mode?: "static" | "init" | "join";
  insecure?: boolean;
}

export interface SecureStart {
  /** Plain TCP everywhere (the default here is secure: TLS and certificates). */
  insecure?: boolean;
  extra?: string[];
}

export class Managers {
  readonly root = mkdtempSync(join(tmpdir(), "fleet-e2e-"));
  readonly members = new Map<number, Member>();
  readonly clusterId = "e2e";
  /** `bundle`: run the built dist/manager.mjs (build first) instead of the sources through tsx:
   * much less CPU at start, and immune to half-edited sources in a shared tree. */
  readonly options: { bundle?: boolean };

  constructor(options: { bundle?: boolean } = {}) {
    this.options = options;
  }

  async init(n: number): Promise<void> {
    for (let id = 1; id <= n; id++) {
      this.members.set(id, {
        raftId: id,
        raftPort: await freePort(),
        brokerPort: await freePort(),
        dir: join(this.root, `m${id}`),
        log: "",
      });
    }
  }

  start(id: number, extra: string[] = []): void {
    const m = this.members.get(id)!;
    if (m.mode === "init" || m.mode === "join") {
      this.#spawn(m, [...(m.insecure ? ["--insecure"] : []), ...extra]);
      return;
    }
    m.mode = "static";
    const initial = [...this.members.values()]
      .map((x) => `${x.raftId}=127.0.0.1:${x.raftPort}`)
      .join(",");
    const args = ["--import", "tsx", main, "--data-dir", m.dir, "--raft-port", String(m.raftPort)];
    args.push(
      "--broker-port",
      String(m.brokerPort),
      "--tick-ms",
      "50",
      "--hostname",
      `manager-${id}`,
    );
    args.push(
      "--initial-cluster",
      initial,
      "--raft-id",
      String(id),
      "--cluster-id",
      this.clusterId,
      "--insecure",
      ...extra,
    );
    this.#run(m, args);
  }

  /** Founds a new cluster with this member (`--init`): root CA, join tokens, first manager. */
  startInit(id: number, o: SecureStart = {}): void {
    const m = this.members.get(id)!;
    m.mode = "init";
    m.insecure = o.insecure ?? false;
    this.#spawn(m, ["--init", ...(m.insecure ? ["--insecure"] : []), ...(o.extra ?? [])]);
  }

  /** Joins the cluster by token through the broker of member `via`, or through the broker
   * address `via` (HOST:PORT: an external broker's join listener). */
  startJoin(id: number, token: string, via: number | string, o: SecureStart = {}): void {
    const m = this.members.get(id)!;
    m.mode = "join";
    m.insecure = o.insecure ?? false;
    const addr = typeof via === "string" ? via : `127.0.0.1:${this.members.get(via)!.brokerPort}`;
    const flags = ["--join", token, "--join-addr", addr, ...(m.insecure ? ["--insecure"] : [])];
    this.#spawn(m, [...flags, ...(o.extra ?? [])]);
  }

  /** The cluster's join tokens, read through a member's API. */
  async joinTokens(id: number): Promise<{ worker: string; manager: string }> {
    const r = await this.api<{ worker: string; manager: string }>(id, "GET", "/v1/join-tokens");
    if (r.status !== 200) throw new Error(`join tokens: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Resolves with the exit code once the member's process has ended (or rejects on timeout). */
  async exited(id: number, timeoutMs = 60_000): Promise<number | null> {
    const p = this.members.get(id)?.proc;
    if (!p) throw new Error(`member ${id} never started`);
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`member ${id} still running after ${timeoutMs} ms`)),
        timeoutMs,
      );
      p.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  #spawn(m: Member, flags: string[]): void {
    const args = ["--import", "tsx", main, "--data-dir", m.dir, "--raft-port", String(m.raftPort)];
    args.push("--broker-port", String(m.brokerPort), "--tick-ms", "50");
    args.push("--hostname", `manager-${m.raftId}`, ...flags);
    this.#run(m, args);
  }

  #run(m: Member, args: string[]): void {
    m.log = "";
    if (this.options.bundle && args[0] === "--import" && args[2] === main) {
      args = [join(dirname(main), "../dist/manager.mjs"), ...args.slice(3)];
    }
    m.proc = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    m.proc.stderr?.on("data", (d) => {
      m.log = (m.log + String(d)).slice(-30_000);
    });
  }

  async kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.members.get(id)?.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill(signal);
    });
  }

  running(): number[] {
    return [...this.members.values()]
      .filter((m) => m.proc && m.proc.exitCode === null && m.proc.signalCode === null)
      .map((m) => m.raftId);
  }

  /** One API call over a manager's unix socket. */
  api<T = unknown>(
    id: number,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const socketPath = join(this.members.get(id)!.dir, "fleet.sock");
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath,
          path,
          method,
          // A fresh connection per call: Node's default keep-alive agent may reuse a socket the
          // server is closing as idle, and the call then fails with EPIPE or ECONNRESET.
          agent: false,
          headers: { "content-type": "application/json" },
          timeout: 15_000,
        },
        (res) => {
          let text = "";
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: (text ? JSON.parse(text) : undefined) as T,
            }),
          );
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("api timeout")));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** The raft id of the current leader, agreed by the running managers that answer. */
  async leader(timeoutMs = 30_000, not?: number): Promise<number> {
    return this.waitFor(
      "a leader",
      async () => {
        for (const id of this.running()) {
          const r = await this.api<{ isLeader: boolean }>(id, "GET", "/v1/info").catch(
            () => undefined,
          );
          if (r?.body?.isLeader && id !== not) return id;
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  async waitFor<T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) {
        const logs = [...this.members.values()]
          .map((m) => `--- m${m.raftId}\n${m.log.slice(-3000)}`)
          .join("\n");
        throw new Error(`timed out waiting for ${what}\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    for (const id of this.members.keys()) await this.kill(id);
    rmSync(this.root, { recursive: true, force: true });
  }
}
