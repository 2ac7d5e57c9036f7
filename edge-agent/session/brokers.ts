// The agent's broker list: the configured URLs first, then the managers' brokers learned from
// the cluster (every assignment carries their host:port addresses), kept in the data dir so a
// reboot with the configured managers gone still finds the others. Learned addresses are
// checked (host:port, port 1-65535) and bounded; a damaged file is ignored, never fatal.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { atomicWrite } from "../state/state.ts";

export const BROKERS_FILE = "brokers.json";
const MAX = 64;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):(\d{1,5})$/;

/** `mqtt://host:port` (or mqtts) for each valid address; invalid ones are skipped. */
export function brokerUrls(addrs: readonly string[], scheme: "mqtt" | "mqtts"): string[] {
  const out: string[] = [];
  for (const a of addrs.slice(0, MAX)) {
    const m = HOST_PORT.exec(a);
    const port = Number(m?.[2]);
    if (m && port >= 1 && port <= 65535) out.push(`${scheme}://${a}`);
  }
  return out;
}

/** Configured first (the operator's order), then learned ones not already in the list. */
export function mergeBrokers(configured: readonly string[], learned: readonly string[]): string[] {
  const out = [...configured];
  const seen = new Set(configured.map(key));
  for (const u of learned) {
    if (seen.has(key(u))) continue;
    seen.add(key(u));
    out.push(u);
  }
  return out;
}

function key(url: string): string {
  return url.replace(/\/+$/, "").toLowerCase();
}

/** The learned list saved in `dataDir`; empty when absent or damaged. */
export function loadLearned(dataDir: string): string[] {
  const path = join(dataDir, BROKERS_FILE);
  if (!existsSync(path)) return [];
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as { brokers?: unknown };
    if (!Array.isArray(v.brokers)) return [];
    return v.brokers
      .filter((u): u is string => typeof u === "string" && /^mqtts?:\/\/[^/\s]+$/.test(u))
      .slice(0, MAX);
  } catch {
    return [];
  }
}

export function saveLearned(dataDir: string, urls: readonly string[]): void {
  const body = `${JSON.stringify({ brokers: urls.slice(0, MAX) }, null, 2)}\n`;
  atomicWrite(join(dataDir, BROKERS_FILE), Buffer.from(body));
}
