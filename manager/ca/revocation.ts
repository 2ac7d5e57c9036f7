// What the CA has revoked: certificate serials (each until it could no longer be used anyway)
// and removed node ids (forever: a removed node can never return with that identity). The
// broker and transports consult `isRevoked` in their verification hooks. Plain data in, plain
// data out (`toJSON`/`fromJSON`) so it can live in the replicated store.

import { CryptoError } from "../../core/crypto/errors.ts";
import { limits } from "../../core/limits.ts";

export interface RevokedSerial {
  serial: string;
  /** The revoked certificate's notAfter: after it (plus the re-enrol window) it can be pruned. */
  notAfterMs: number;
  revokedAtMs: number;
}

export interface RevocationState {
  serials: RevokedSerial[];
  removedNodes: string[];
}

export class RevocationList {
  #serials = new Map<string, RevokedSerial>();
  #removed = new Set<string>();

  static fromJSON(state: RevocationState): RevocationList {
    const list = new RevocationList();
    for (const r of state.serials) list.revoke(r.serial, r.notAfterMs, r.revokedAtMs);
    for (const nodeId of state.removedNodes) list.#removed.add(nodeId);
    return list;
  }

  toJSON(): RevocationState {
    return { serials: this.entries(), removedNodes: [...this.#removed] };
  }

  entries(): RevokedSerial[] {
    return [...this.#serials.values()].map((r) => ({ ...r }));
  }

  /** Refuses to grow past limits.revokedSerialsMax rather than forget a revocation. */
  revoke(serial: string, notAfterMs: number, revokedAtMs: number): void {
    if (!/^[0-9a-f]{2,40}$/.test(serial))
      throw new CryptoError("bad-input", `bad serial ${serial}`);
    if (!this.#serials.has(serial) && this.#serials.size >= limits.revokedSerialsMax)
      throw new CryptoError("bad-input", `revocation list full (${limits.revokedSerialsMax})`);
    if (!this.#serials.has(serial)) this.#serials.set(serial, { serial, notAfterMs, revokedAtMs });
  }

  /** `fleet node rm`: the node's serials are revoked and its id may never be certified again. */
  removeNode(
    nodeId: string,
    certificates: { serial: string; notAfterMs: number }[],
    revokedAtMs: number,
  ): void {
    for (const c of certificates) this.revoke(c.serial, c.notAfterMs, revokedAtMs);
    this.#removed.add(nodeId);
  }

  isRemoved(nodeId: string): boolean {
    return this.#removed.has(nodeId);
  }

  isRevoked(serial: string, nodeId?: string): boolean {
    return this.#serials.has(serial) || (nodeId !== undefined && this.#removed.has(nodeId));
  }

  get size(): number {
    return this.#serials.size;
  }

  /**
   * Forgets serials that can no longer be presented: expired longer ago than the re-enrolment
   * window. Removed node ids are kept forever.
   */
  prune(nowMs: number, reenrolWindowMs: number): number {
    let n = 0;
    for (const [serial, { notAfterMs }] of this.#serials)
      if (notAfterMs + reenrolWindowMs < nowMs) {
        this.#serials.delete(serial);
        n++;
      }
    return n;
  }
}
