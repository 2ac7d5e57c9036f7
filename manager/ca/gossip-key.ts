// The cluster's gossip key ring in the store (core/gossip-keys.ts): made at founding (in the
// pending CA fields) or, for a cluster from before gossip keys, by the first leader that sees its
// cluster object without one; rotated by `fleet cluster update --rotate-gossip-key`; pruned by
// the leader when a rotated-out key's grace ends. Every change is one Raft write, after which
// the dispatcher republishes every node's assignment with the new ring.
//
// Autolock does not seal the ring: the leader must hand it to agents while the CA is locked,
// and every agent keeps it on its own disk anyway (docs/security.md "Gossip").

import { randomBytes } from "node:crypto";
import {
  type GossipKeyRing,
  gossipKeyRingProblem,
  newGossipKeyRing,
  nextGossipKeyExpiry,
  pruneGossipKeyRing,
  rotateGossipKeyRing,
} from "../../core/gossip-keys.ts";
import { limits } from "../../core/limits.ts";
import type { Cluster } from "../../core/model/types.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import type { StoreWriter } from "../../core/store/writer.ts";

export const systemRandom = (n: number) => new Uint8Array(randomBytes(n));

function theCluster(tx: WriteTx): Cluster | undefined {
  return tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0];
}

/** `--rotate-gossip-key`, inside a write: the ring rotated (a fresh one if it had none). */
export function rotateGossipKeyInTx(
  tx: WriteTx,
  nowMs: number,
  graceMs: number = limits.gossipKeyGraceMsDefault,
  random = systemRandom,
): GossipKeyRing | undefined {
  const c = theCluster(tx);
  if (!c) return undefined;
  const ring =
    c.gossipKeys && gossipKeyRingProblem(c.gossipKeys) === undefined
      ? rotateGossipKeyRing(c.gossipKeys, random, nowMs, graceMs)
      : newGossipKeyRing(random, nowMs);
  tx.update("clusters", { ...c, gossipKeys: ring, updatedAt: nowMs });
  return ring;
}

/**
 * What the leader does to the ring: makes one when the cluster object has none (or a damaged
 * one) and drops keys past their grace. True when it wrote.
 */
export async function maintainGossipKeys(
  writer: StoreWriter,
  nowMs: number,
  random = systemRandom,
): Promise<boolean> {
  const need = writer.store.view((tx) => {
    const c = tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0];
    if (!c) return false;
    if (!c.gossipKeys || gossipKeyRingProblem(c.gossipKeys) !== undefined) return true;
    return pruneGossipKeyRing(c.gossipKeys, nowMs) !== c.gossipKeys;
  });
  if (!need) return false;
  return writer.update((tx) => {
    const c = theCluster(tx);
    if (!c) return false;
    const ring =
      !c.gossipKeys || gossipKeyRingProblem(c.gossipKeys) !== undefined
        ? newGossipKeyRing(random, nowMs)
        : pruneGossipKeyRing(c.gossipKeys, nowMs);
    if (ring === c.gossipKeys) return false;
    tx.update("clusters", { ...c, gossipKeys: ring, updatedAt: nowMs });
    return true;
  });
}

/** The leader's loop: maintain now, then at the next grace end or every 10 s (a cluster object
 * written later, a rotation done elsewhere). Stops with leadership. */
export class GossipKeyService {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly writer: StoreWriter,
    private readonly log: { warn(msg: string, f?: Record<string, unknown>): void },
    private readonly checkMs = 10_000,
  ) {}

  start(): void {
    void this.#run();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    try {
      await maintainGossipKeys(this.writer, Date.now());
    } catch (err) {
      this.log.warn("gossip key ring not maintained", { err: (err as Error).message });
    }
    if (this.#stopped) return;
    const ring = this.writer.store.view(
      (tx) => tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0]?.gossipKeys,
    );
    const end = ring ? nextGossipKeyExpiry(ring) : undefined;
    const wait = end === undefined ? this.checkMs : Math.min(this.checkMs, end - Date.now() + 1);
    this.#timer = setTimeout(() => void this.#run(), Math.max(50, wait));
    this.#timer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
