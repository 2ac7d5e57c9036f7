// The agent's peer table on disk (`gossip-peers.json`, no keys in it) and
// `edge-agent peers --data-dir D [--json]`, which prints it: what this node heard from its peers
// over sealed gossip, readable on the device when no manager is.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GossipService } from "../core/gossip.ts";
import { limits } from "../core/limits.ts";

export const PEERS_FILE = "gossip-peers.json";
/** The table file is rewritten for new times at most this often. */
const PEERS_WRITE_MS = 10_000;

export interface Peer {
  nodeId: string;
  hostname: string;
  /** The peer's own clock when it sent its status. */
  timeMs: number;
  /** When this agent received it (its clock). */
  receivedMs: number;
  keyId: number;
  services: GossipService[];
}

export interface PeerTable {
  nodeId: string;
  writtenMs: number;
  peers: Peer[];
  /** Gossip is off on this agent (its own setting or the cluster's): no peers are heard. */
  off?: boolean;
}

/** Replaces the table file (tmp + rename, no fsync: it is a diagnostic, rewritten often). */
export function writePeers(dataDir: string, table: PeerTable): void {
  const path = join(dataDir, PEERS_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(table)}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

export function readPeers(dataDir: string): PeerTable {
  const path = join(dataDir, PEERS_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new Error(`no peer table in ${dataDir} (${PEERS_FILE}): is an agent running there?`);
  }
  let t: PeerTable;
  try {
    t = JSON.parse(text) as PeerTable;
  } catch {
    throw new Error(`${path} is not JSON (damaged?)`);
  }
  if (typeof t !== "object" || t === null || !Array.isArray(t.peers))
    throw new Error(`${path} is not a peer table`);
  return t;
}

/** The agent's peers in memory, and their table file: rewritten at once when a peer comes or
 * goes, for new times at most every PEERS_WRITE_MS (SD cards wear). */
export class PeerBook {
  readonly #map = new Map<string, Peer>();
  /** Something changed since the file was written. */
  #dirty = true;
  /** A peer came or went (or gossip was switched) since: written at the next save. */
  #members = true;
  #writtenMs = Number.NEGATIVE_INFINITY;
  #off: boolean | undefined;

  constructor(
    readonly nodeId: string,
    readonly dataDir?: string,
    readonly log?: (line: string) => void,
  ) {}

  get size(): number {
    return this.#map.size;
  }

  get(id: string): Peer | undefined {
    return this.#map.get(id);
  }

  list(): Peer[] {
    return [...this.#map.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** Adds or replaces a peer; a new one past limits.gossipPeersMax drops the stalest. */
  set(p: Peer): void {
    if (!this.#map.has(p.nodeId)) {
      if (this.#map.size >= limits.gossipPeersMax) this.#dropStalest();
      this.#members = true;
    }
    this.#map.set(p.nodeId, p);
    this.#dirty = true;
  }

  delete(id: string): void {
    if (this.#map.delete(id)) this.#dirty = this.#members = true;
  }

  clear(): void {
    this.#map.clear();
    this.#dirty = this.#members = true;
  }

  /** Drops peers silent (by their clock or our receipt, whichever is older) past staleMs. */
  expire(now: number, staleMs: number): void {
    for (const p of this.#map.values())
      if (now - Math.min(p.receivedMs, p.timeMs) > staleMs) this.delete(p.nodeId);
  }

  #dropStalest(): void {
    let worst: Peer | undefined;
    for (const p of this.#map.values()) if (!worst || p.receivedMs < worst.receivedMs) worst = p;
    if (worst) this.#map.delete(worst.nodeId);
  }

  /** Writes the table file when due; `off`: gossip is off on this agent (the file says so). */
  save(now: number, off: boolean): void {
    if (off !== this.#off) this.#dirty = this.#members = true;
    this.#off = off;
    if (!this.#dirty || !this.dataDir) return;
    if (!this.#members && now - this.#writtenMs < PEERS_WRITE_MS) return;
    this.#dirty = this.#members = false;
    this.#writtenMs = now;
    try {
      writePeers(this.dataDir, {
        nodeId: this.nodeId,
        writtenMs: now,
        peers: this.list(),
        ...(off ? { off: true } : {}),
      });
    } catch (err) {
      this.log?.(`gossip: peer table not saved: ${(err as Error).message}`);
    }
  }
}

const ago = (ms: number) =>
  ms < 120_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`;

/** One line per peer: id, host name, age of its status, its services (running/tasks). */
export function formatPeers(t: PeerTable, nowMs: number): string {
  const rows = [["NODE", "HOSTNAME", "SEEN", "KEY", "SERVICES"]];
  for (const p of t.peers) {
    const services = p.services.map((s) => `${s.name} ${s.running}/${s.tasks}`).join(", ");
    rows.push([
      p.nodeId,
      p.hostname,
      `${ago(Math.max(0, nowMs - p.receivedMs))} ago`,
      String(p.keyId),
      services || "-",
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "),
  );
  const what = t.off ? "gossip off" : `${t.peers.length} peers`;
  const head = `node ${t.nodeId}, ${what}, table written ${ago(Math.max(0, nowMs - t.writtenMs))} ago`;
  return `${head}\n${lines.join("\n")}`;
}

/** `edge-agent peers --data-dir D [--json]`: 0, 1 (no readable table) or 2 (usage). */
export function peersCommand(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void = out,
): number {
  const i = argv.indexOf("--data-dir");
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir) {
    err("usage: edge-agent peers --data-dir D [--json]");
    return 2;
  }
  let t: PeerTable;
  try {
    t = readPeers(dir);
  } catch (e) {
    err(`edge-agent: ${(e as Error).message}`);
    return 1;
  }
  out(argv.includes("--json") ? JSON.stringify(t) : formatPeers(t, Date.now()));
  return 0;
}
