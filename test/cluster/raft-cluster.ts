// Spawns and drives a cluster of raft-member processes on loopback (real processes, real WALs
// with fsync, real TCP). Every process is stopped by its pid when the harness closes.

import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/real.ts";

const memberScript = join(dirname(fileURLToPath(import.meta.url)), "raft-member.ts");

export interface MemberStatus {
  id: number;
  leader: number;
  isLeader: boolean;
  applied: number;
  leaderChangedAt: number;
}

export class RaftCluster {
  readonly root = mkdtempSync(join(tmpdir(), "fleet-raftcluster-"));
  readonly procs = new Map<number, ChildProcess>();
  readonly ports = new Map<number, number>();
  readonly acks = new Map<number, number[]>();
  stderr = "";

  constructor(
    readonly size: number,
    readonly tickMs = 100,
  ) {}

  get ids(): number[] {
    return Array.from({ length: this.size }, (_, i) => i + 1);
  }

  async start(): Promise<void> {
    for (const id of this.ids) this.ports.set(id, await freePort());
    await Promise.all(this.ids.map((id) => this.startMember(id)));
  }

  async startMember(id: number): Promise<void> {
    const peers = this.ids.map((p) => `${p}=127.0.0.1:${this.ports.get(p)}`).join(",");
    const args = [
      "--id",
      String(id),
      "--dir",
      join(this.root, `m${id}`),
      "--port",
      String(this.ports.get(id)),
    ];
    args.push(
      "--peers",
      peers,
      "--bootstrap",
      this.ids.join(","),
      "--tick-ms",
      String(this.tickMs),
    );
    const child = fork(memberScript, args, {
      // FLEET_MEMBER_NODE_OPTIONS adds flags for profiling (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
      execArgv: [
        "--import",
        "tsx",
        ...(process.env.FLEET_MEMBER_NODE_OPTIONS?.split(" ").filter(Boolean) ?? []),
      ],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    child.stderr?.on("data", (d) => {
      this.stderr = (this.stderr + String(d)).slice(-20_000);
    });
    child.on("message", (m: { ack?: number }) => {
      if (m.ack !== undefined) this.acks.set(id, [...(this.acks.get(id) ?? []), m.ack]);
    });
    this.procs.set(id, child);
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean }) => {
        if (m.ready) {
          child.off("message", onMsg);
          resolve();
        }
      };
      child.on("message", onMsg);
      child.once("exit", (code) =>
        reject(new Error(`member ${id} exited (${code}): ${this.stderr}`)),
      );
    });
  }

  /** Sends a command and waits for its reply (bounded). */
  call<T = Record<string, unknown>>(
    id: number,
    cmd: { cmd: string; [k: string]: unknown },
    timeoutMs = 120_000,
  ): Promise<T> {
    const child = this.procs.get(id);
    if (!child) return Promise.reject(new Error(`member ${id} is not running`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off("message", onMsg);
        reject(new Error(`member ${id}: ${cmd.cmd} timed out`));
      }, timeoutMs);
      const onMsg = (m: { re?: string }) => {
        if (m.re !== cmd.cmd) return;
        clearTimeout(timer);
        child.off("message", onMsg);
        resolve(m as T);
      };
      child.on("message", onMsg);
      child.send(cmd);
    });
  }

  async statuses(): Promise<MemberStatus[]> {
    const ids = [...this.procs.keys()];
    return Promise.all(ids.map((id) => this.call<MemberStatus>(id, { cmd: "status" }, 5_000)));
  }

  /** Waits for one running member to lead; returns its id (bounded). */
  async leader(timeoutMs = 30_000, not?: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const st = await this.statuses().catch(() => []);
      const l = st.find((s) => s.isLeader && s.id !== not);
      if (l) return l.id;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no leader within ${timeoutMs} ms: ${this.stderr.slice(-2000)}`);
  }

  kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.procs.get(id);
    this.procs.delete(id);
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }

  /** Stops every member, gracefully when asked (so profiles get written), else by SIGKILL. */
  async close(graceful = !!process.env.FLEET_MEMBER_NODE_OPTIONS): Promise<void> {
    if (graceful) {
      await Promise.all(
        [...this.procs.keys()].map((id) => this.call(id, { cmd: "stop" }, 10_000).catch(() => {})),
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    await Promise.all([...this.procs.keys()].map((id) => this.kill(id)));
    rmSync(this.root, { recursive: true, force: true });
  }
}
