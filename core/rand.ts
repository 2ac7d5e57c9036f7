// A small seeded PRNG for core/: xoshiro128** seeded through splitmix32. Core code never reads
// system randomness; whoever needs randomness takes an `Rng` (or a seed) so a run replays.
// Not for cryptography.

export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** A uniform integer in [0, n); n must be a positive safe integer. */
  int(n: number): number;
  /** A uniform float in [0, 1). */
  float(): number;
}

/** splitmix32: a tiny generator, used here to spread a 32-bit seed over xoshiro's state. */
export function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** xoshiro128**: fast, good statistical quality, 128 bits of state; the same seed replays. */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new Error(`assertion failed: seed ${seed} not an integer`);
  const mix = splitmix32(seed);
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d >>> 0, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
  const float = (): number => nextUint32() / 0x1_0000_0000;
  const int = (n: number): number => {
    if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`assertion failed: int(${n})`);
    return Math.floor(float() * n);
  };
  return { nextUint32, int, float };
}

/** Fisher-Yates shuffle of a copy; the input is left untouched. */
export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
