// The agent's gossip files in its data dir: the cluster's key ring (`gossip-keys.cbor`, 0600,
// from assignments) and the cluster's gossip switch (`gossip-cluster.json`, from assignments),
// both loaded at start so an agent rebooted without a manager seals with the ring it had and
// stays quiet when the cluster said gossip is off.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { WireGossipKeys } from "../core/codec/index.ts";
import { checkMessage, decodeCbor, encodeCbor } from "../core/codec/index.ts";
import { atomicWrite } from "./state/state.ts";

export const GOSSIP_KEYS_FILE = "gossip-keys.cbor";
export const GOSSIP_SWITCH_FILE = "gossip-cluster.json";

/** Loads the persisted key ring; undefined when absent or damaged (reported). */
export function loadGossipKeys(
  dataDir: string,
  log?: (l: string) => void,
): WireGossipKeys | undefined {
  const path = join(dataDir, GOSSIP_KEYS_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const keys = decodeCbor(readFileSync(path)) as WireGossipKeys;
    const bad = checkMessage(
      { v: 1, type: "assign", version: 0, tasks: [], gossip: keys },
      "assign",
    );
    if (bad) throw new Error(bad.message);
    return { ...keys, keys: keys.keys.map((k) => ({ ...k, key: new Uint8Array(k.key) })) };
  } catch (err) {
    log?.(`gossip: ${path} ignored: ${(err as Error).message}`);
    return undefined;
  }
}

export function saveGossipKeys(dataDir: string, keys: WireGossipKeys): void {
  atomicWrite(join(dataDir, GOSSIP_KEYS_FILE), encodeCbor(keys));
}

export function sameKeys(a: WireGossipKeys, b: WireGossipKeys | undefined): boolean {
  if (!b || a.current !== b.current || a.keys.length !== b.keys.length) return false;
  return a.keys.every((k, i) => {
    const o = b.keys[i]!;
    return k.id === o.id && k.until === o.until && Buffer.compare(k.key, o.key) === 0;
  });
}

/** The cluster's gossip switch as last heard; on when never heard or the file is damaged. */
export function loadGossipSwitch(dataDir: string, log?: (l: string) => void): boolean {
  const path = join(dataDir, GOSSIP_SWITCH_FILE);
  if (!existsSync(path)) return true;
  try {
    const v = (JSON.parse(readFileSync(path, "utf8")) as { gossip?: unknown }).gossip;
    if (typeof v !== "boolean") throw new Error("no boolean gossip field");
    return v;
  } catch (err) {
    log?.(
      `gossip: ${path} ignored (gossip on until an assignment says): ${(err as Error).message}`,
    );
    return true;
  }
}

export function saveGossipSwitch(dataDir: string, on: boolean): void {
  atomicWrite(
    join(dataDir, GOSSIP_SWITCH_FILE),
    Buffer.from(`${JSON.stringify({ gossip: on })}\n`),
  );
}
