// Whether a manager was heard recently, per broker connection (clock injected). A connection
// to a broker proves only the broker: with an external broker it outlives every manager. The
// leader publishes a beacon every heartbeat period (manager/dispatcher/beacon.ts); once one was
// heard on this connection, a manager counts as gone after `periods` beacon periods without a
// beacon or a live assignment. Before the first beacon (managers that send none) nothing expires.

export class ManagerLiveness {
  readonly #now: () => number;
  readonly #periods: number;
  #heardAt = 0;
  /** The beacon period, once a beacon on this connection said it. */
  #periodMs: number | undefined;

  constructor(now: () => number, periods: number) {
    this.#now = now;
    this.#periods = periods;
  }

  /** A new connection: nothing heard on it yet. */
  reset(): void {
    this.#heardAt = 0;
    this.#periodMs = undefined;
  }

  /** A beacon announcing the leader's period. */
  beacon(periodMs: number): void {
    this.#periodMs = periodMs;
    this.#heardAt = this.#now();
  }

  /** Any other proof of a manager (a live assignment). */
  heard(): void {
    this.#heardAt = this.#now();
  }

  /** When the manager counts as gone if nothing is heard before; undefined before a beacon. */
  deadline(): number | undefined {
    if (this.#periodMs === undefined) return undefined;
    return this.#heardAt + this.#periods * this.#periodMs;
  }

  /** True once the deadline has passed. */
  silent(): boolean {
    const d = this.deadline();
    return d !== undefined && this.#now() > d;
  }
}
