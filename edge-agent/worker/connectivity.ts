// Whether a manager is reachable, in the three degrees the worker's decisions need. The session
// says when a manager answers and when the connection is lost; time does the rest.

import type { Connectivity } from "./decide.ts";

export class ConnectivityTracker {
  readonly #now: () => number;
  readonly #offlineAfterMs: number;
  #online = false;
  #lastOnlineAt: number;

  constructor(now: () => number, offlineAfterMs: number) {
    this.#now = now;
    this.#offlineAfterMs = offlineAfterMs;
    // Just started: not yet known; offline once the threshold passes without a manager.
    this.#lastOnlineAt = now();
  }

  /** Records the change; true when it is one. */
  set(online: boolean): boolean {
    if (this.#online || online) this.#lastOnlineAt = this.#now();
    const changed = online !== this.#online;
    this.#online = online;
    return changed;
  }

  get(): Connectivity {
    if (this.#online) return "online";
    return this.#now() - this.#lastOnlineAt > this.#offlineAfterMs ? "offline" : "unknown";
  }
}
