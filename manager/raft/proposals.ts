// The writers waiting on their proposals, by request id. A proposal settles when its entry is
// applied here (with the store's verdict), when the node stops, after a bounded wait — or as
// soon as it is known lost in a leader change: once an entry of a later term than the one the
// proposal was taken in is applied, the proposal's entry can no longer commit (log terms never
// decrease along the log, so an entry of the old term would have been applied before it).
// That is exact for a proposal the leader took itself. A follower forwards its proposals: if the
// leader it forwarded to had already moved to a newer term, the entry may be appended in that
// term and still commit; the rare duplicate this allows when the writer retries is refused by
// the store's optimistic concurrency (a create of an existing object, a stale version).

import { FleetError } from "../../core/errors.ts";
import type { StoreError } from "../../core/store/actions.ts";

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The term the core took the proposal in; undefined until then. */
  term?: number;
  /** Whether this node was the leader when it took it (then the loss verdict is exact). */
  local?: boolean;
}

/** A proposal lost in a leader change: not applied; proposing it again is safe. */
export function proposalDropped(why: string): FleetError {
  return new FleetError("raft", "proposal_dropped", why, true);
}

/** Whether a proposal may simply be proposed again: the core refused it, or it was lost. */
export function isDropped(err: unknown): boolean {
  return (
    err instanceof FleetError &&
    err.module === "raft" &&
    (err.code === "proposal_dropped" || err.code === "proposalDropped")
  );
}

export class Proposals {
  readonly #waiters = new Map<string, Waiter>();

  get size(): number {
    return this.#waiters.size;
  }

  /** Waits for `requestId`; rejects with a retryable timeout after `timeoutMs`. */
  wait(requestId: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(requestId);
        reject(
          new FleetError(
            "raft",
            "timeout",
            `proposal not applied within ${timeoutMs} ms; it may still commit`,
            true,
          ),
        );
      }, timeoutMs);
      this.#waiters.set(requestId, { resolve, reject, timer });
    });
  }

  /** The core took the proposal in `term` (as leader when `local`). */
  taken(requestId: string, term: number, local: boolean): void {
    const w = this.#waiters.get(requestId);
    if (!w) return;
    w.term = term;
    w.local = local;
  }

  /** Its entry was applied here, with the store's verdict. */
  applied(requestId: string, error?: StoreError): void {
    this.fail(requestId, error);
  }

  /** Settles one waiter: rejects with `err`, or resolves without one. */
  fail(requestId: string, err?: Error): void {
    const w = this.#waiters.get(requestId);
    if (!w) return;
    this.#waiters.delete(requestId);
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve();
  }

  /** An entry of `term` is about to be applied: proposals taken in an earlier term are lost. */
  newTerm(term: number): number {
    let dropped = 0;
    for (const [id, w] of this.#waiters) {
      if (w.term === undefined || w.term >= term) continue;
      const how = w.local ? "its entry was overwritten" : "it was forwarded to the old leader";
      this.fail(
        id,
        proposalDropped(
          `proposal lost in a leader change (term ${w.term} -> ${term}: ${how}); propose it again`,
        ),
      );
      dropped++;
    }
    return dropped;
  }

  rejectAll(err: Error): void {
    for (const id of [...this.#waiters.keys()]) this.fail(id, err);
  }
}
