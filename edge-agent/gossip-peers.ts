// The agent's peer table on disk (`gossip-peers.json`, no keys in it) and
// `edge-agent peers --data-dir D [--json]`, which prints it: what this node heard from its peers
// over sealed gossip, readable on the device when no manager is.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Peer } from "./gossip.ts";

export const PEERS_FILE = "gossip-peers.json";

export interface PeerTable {
  nodeId: string;
  writtenMs: number;
  peers: Peer[];
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
  const head = `node ${t.nodeId}, ${t.peers.length} peers, table written ${ago(Math.max(0, nowMs - t.writtenMs))} ago`;
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
