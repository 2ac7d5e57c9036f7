// Real manager processes on loopback for end-to-end tests: spawn, call the API over each one's
// unix socket, SIGKILL, restart. Every process is stopped by its pid in close().

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
}

export class Managers {
  readonly root = mkdtempSync(join(tmpdir(), "fleet-e2e-"));
  readonly members = new Map<number, Member>();
  readonly clusterId = "e2e";

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
    m.log = "";
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
