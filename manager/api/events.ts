// The event stream: every committed store change becomes an operator event (views.eventView),
// kept in a bounded history so a client can resume with `since=<version>` (or the SSE
// Last-Event-ID header) after a reconnect. A resume from before the history answers 410: the
// client re-reads the state and resumes from its index. The hub only reads the store.

import type { Store } from "../../core/store/store.ts";
import type { Watcher } from "../../core/store/watch.ts";
import { ApiError } from "./errors.ts";
import { apiLimits } from "./limits.ts";
import type { ApiResponse, Call, Route } from "./router.ts";
import { eventView, type FleetEvent } from "./views.ts";

type Listener = (e: FleetEvent | { reset: string }) => void;

export class EventHub {
  readonly #store: Store;
  readonly #now: () => number;
  #history: FleetEvent[] = [];
  /** Every change after this index is in the history. */
  #floor: number;
  #watcher: Watcher | undefined;
  readonly #listeners = new Set<Listener>();
  #stopped = true;

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
    this.#floor = store.index;
  }

  get clients(): number {
    return this.#listeners.size;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#watch();
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close("API stopped");
    this.#watcher = undefined;
    for (const l of this.#listeners) l({ reset: "the manager's API is stopping" });
    this.#listeners.clear();
  }

  /** The held events after `since` plus a live subscription, with no gap and no duplicate. */
  subscribe(since: number | undefined, fn: Listener): { backlog: FleetEvent[]; stop(): void } {
    if (since !== undefined && since < this.#floor) {
      throw new ApiError(
        "gone",
        `events before index ${this.#floor} are no longer held: read the current state and ` +
          `resume with since=${this.#store.index}`,
      );
    }
    const backlog = since === undefined ? [] : this.#history.filter((e) => e.version > since);
    this.#listeners.add(fn);
    return { backlog, stop: () => this.#listeners.delete(fn) };
  }

  #watch(): void {
    const w = this.#store.watch();
    this.#watcher = w;
    this.#floor = this.#store.index;
    this.#history = [];
    void this.#pump(w);
  }

  async #pump(w: Watcher): Promise<void> {
    for await (const e of w) {
      const ev = eventView(e, this.#now());
      if (!ev) continue;
      this.#history.push(ev);
      if (this.#history.length > apiLimits.eventHistoryMax) {
        const dropped = this.#history.splice(0, this.#history.length / 4);
        this.#floor = dropped[dropped.length - 1]!.version;
      }
      for (const l of this.#listeners) l(ev);
    }
    if (this.#stopped) return;
    // Fell behind or the store was restored from a snapshot: clients must resync.
    const reason = w.closedReason ?? "event watch closed";
    for (const l of this.#listeners) l({ reset: reason });
    this.#listeners.clear();
    this.#watch();
  }
}

export interface EventDeps {
  events: EventHub;
}

const TYPES = ["node", "service", "task", "cluster"];

function stream(c: Call<EventDeps>): ApiResponse {
  const hub = c.services.events;
  const types = c.query.all("type");
  for (const t of types)
    if (!TYPES.includes(t))
      throw new ApiError("bad_request", `filter type: expected one of ${TYPES.join(", ")}`);
  const lastId = c.headers["last-event-id"];
  const since =
    c.query.int("since") ?? (lastId && /^\d+$/.test(lastId) ? Number(lastId) : undefined);
  if (hub.clients >= apiLimits.eventClientsMax) {
    throw new ApiError("busy", `too many event streams open (${apiLimits.eventClientsMax})`);
  }
  const keep = (e: FleetEvent) => types.length === 0 || types.includes(e.type);
  // Events that arrive before the stream starts wait here, so none falls between.
  const early: Parameters<Listener>[0][] = [];
  let push: Listener = (e) => early.push(e);
  const sub = hub.subscribe(since, (e) => push(e));
  return {
    status: 200,
    stream: async (sink) => {
      const deliver: Listener = (e) => {
        if ("reset" in e) {
          sink.send("reset", { message: e.reset });
          sink.end();
        } else if (keep(e) && !sink.send(e.type, e, String(e.version))) sink.end();
      };
      sink.comment(`fleet events from index ${c.ctx.store.index}`);
      for (const e of [...sub.backlog, ...early]) deliver(e);
      push = deliver;
      await sink.closed;
      sub.stop();
    },
  };
}

export const eventRoutes: Route<EventDeps>[] = [
  { method: "GET", path: "/v1/events", query: ["since", "type"], handler: stream },
];
