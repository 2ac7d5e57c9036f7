// One-shot wake-ups for the worker: with the engine's events driving it, the poll is slow, so
// what time alone changes (a restart delay passing, the offline threshold being crossed) gets
// its own timer. Only the earliest pending wake-up is kept; a pass re-arms the later ones.

export class Wakeup {
  readonly #now: () => number;
  readonly #fn: () => void;
  #timer: NodeJS.Timeout | undefined;
  #at = Number.POSITIVE_INFINITY;

  constructor(now: () => number, fn: () => void) {
    this.#now = now;
    this.#fn = fn;
  }

  /** Calls the function at `atMs` (epoch ms) unless an earlier wake-up is pending. */
  at(atMs: number): void {
    if (atMs >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = atMs;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#at = Number.POSITIVE_INFINITY;
        this.#fn();
      },
      Math.max(0, atMs - this.#now()),
    );
    this.#timer.unref?.();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }
}
