// What every control loop shares. A loop owns one store watcher; `step(nowMs)` drains the events
// queued since the last step, does the work they make due, and fires its timers that are due at
// `nowMs`. Loops never call each other: they meet only in the store (SwarmKit's rule), and the
// driver (Orchestrator, or a test) just steps them. Time is always an argument: core/ has no
// clock, so a test drives a fake one and a run replays.

import { FleetError } from "../errors.ts";
import { createRng, type Rng } from "../rand.ts";
import { type StoreAction, StoreError } from "../store/actions.ts";
import type { Store } from "../store/store.ts";
import type { ReadTx, WriteTx } from "../store/tx.ts";
import type { StoreEvent, Watcher, WatchFilter } from "../store/watch.ts";

export interface ControlLoop {
  readonly name: string;
  /** Handles the events queued since the last step and the timers due at `nowMs`. */
  step(nowMs: number): void;
  /** Events (or a first full reconcile) waiting for the next step. */
  readonly pendingEvents: number;
  /** The earliest time one of the loop's timers falls due, or undefined. */
  nextDeadlineMs(): number | undefined;
  close(): void;
}

export interface LoopOptions {
  /** Seeds the loop's task ids (and the scheduler's shuffles): one seed replays a run. */
  seed: number;
  /**
   * On a manager, writes go through Raft: a loop's transaction is prepared against the store and
   * its actions handed here instead of applied; the driver proposes them and steps the loops
   * again once they are applied (a conflict then shows as the winner's event). Absent: writes
   * apply to the store at once (tests, simulations).
   */
  propose?: (actions: StoreAction[]) => void;
}

export abstract class BaseLoop implements ControlLoop {
  #watcher: Watcher;
  #fresh = true;
  protected readonly rng: Rng;
  private readonly propose: ((actions: StoreAction[]) => void) | undefined;

  constructor(
    readonly name: string,
    protected readonly store: Store,
    options: LoopOptions,
    private readonly filter: WatchFilter,
  ) {
    this.#watcher = store.watch(filter);
    this.rng = createRng((options.seed ^ hash(name)) >>> 0);
    this.propose = options.propose;
  }

  get pendingEvents(): number {
    return this.#watcher.pending + (this.#fresh ? 1 : 0);
  }

  step(nowMs: number): void {
    if (this.#watcher.closedReason !== undefined) {
      // Fell behind, or the store was restored from a snapshot: start over from a full view.
      this.#watcher = this.store.watch(this.filter);
      this.#fresh = true;
    }
    const events = this.#watcher.drain();
    if (this.#fresh) {
      this.#fresh = false;
      this.resync(nowMs);
    }
    for (const e of events) this.observe(e, nowMs);
    this.reconcile(nowMs);
  }

  nextDeadlineMs(): number | undefined {
    return undefined;
  }

  close(): void {
    this.#watcher.close();
  }

  /** Forget derived state and mark everything for a full reconcile (first step, resync). */
  protected abstract resync(nowMs: number): void;
  /** Record what one event makes dirty; the work happens in reconcile. */
  protected abstract observe(e: StoreEvent, nowMs: number): void;
  protected abstract reconcile(nowMs: number): void;

  protected view<R>(fn: (tx: ReadTx) => R): R {
    return this.store.view(fn);
  }

  /**
   * One write transaction. A conflict (another writer got there first) is not an error here:
   * the loop sees that writer's event and reconciles again. Returns whether it applied.
   */
  protected write(fn: (tx: WriteTx) => void): boolean {
    try {
      if (this.propose) {
        const actions = this.store.prepare(fn);
        if (actions.length > 0) this.propose(actions);
      } else this.store.update(fn);
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.retryable) return false;
      throw err;
    }
  }

  /** Many small transactions batched into few store applies (bounded by the store). */
  protected writeEach<T>(items: Iterable<T>, fn: (tx: WriteTx, item: T) => void): void {
    if (this.propose) {
      this.proposeEach(items, fn, this.propose);
      return;
    }
    this.store.batch((b) => {
      for (const item of items) {
        b.update((tx) => {
          try {
            fn(tx, item);
          } catch (err) {
            if (!(err instanceof StoreError && err.retryable)) throw err;
          }
        });
      }
    });
  }

  /** writeEach through Raft: one proposal per bounded group (Store.prepareGroup). */
  private proposeEach<T>(
    items: Iterable<T>,
    fn: (tx: WriteTx, item: T) => void,
    propose: (actions: StoreAction[]) => void,
  ): void {
    const fns = [...items].map((item) => (tx: WriteTx) => fn(tx, item));
    const onError = (err: unknown) => {
      if (!(err instanceof StoreError && err.retryable)) throw err;
    };
    for (let i = 0; i < fns.length; ) {
      const group = this.store.prepareGroup(fns, i, onError);
      if (group.actions.length > 0) propose(group.actions);
      i = group.next;
    }
  }

  /** A fresh task id: 64 seeded random bits, re-drawn on the (unlikely) clash. */
  protected newId(tx: ReadTx): string {
    for (;;) {
      const hi = this.rng.nextUint32().toString(16).padStart(8, "0");
      const lo = this.rng.nextUint32().toString(16).padStart(8, "0");
      const id = `${hi}${lo}`;
      if (tx.get("tasks", id) === undefined) return id;
    }
  }
}

/** Due times by key; `take(now)` removes and returns the keys that are due, in due order. */
export class Timers {
  readonly #due = new Map<string, number>();

  set(key: string, atMs: number): void {
    this.#due.set(key, atMs);
  }

  has(key: string): boolean {
    return this.#due.has(key);
  }

  delete(key: string): void {
    this.#due.delete(key);
  }

  clear(): void {
    this.#due.clear();
  }

  get size(): number {
    return this.#due.size;
  }

  take(nowMs: number): string[] {
    const out: [string, number][] = [];
    for (const [k, at] of this.#due) if (at <= nowMs) out.push([k, at]);
    out.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [k] of out) this.#due.delete(k);
    return out.map(([k]) => k);
  }

  next(): number | undefined {
    let min: number | undefined;
    for (const at of this.#due.values()) if (min === undefined || at < min) min = at;
    return min;
  }
}

export class OrchestratorError extends FleetError {
  constructor(code: "not_settling", message: string) {
    super("orchestrator", code, message, false);
    this.name = "OrchestratorError";
  }
}

/** FNV-1a: a stable 32-bit hash of a loop's name, so each loop draws its own id stream. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
