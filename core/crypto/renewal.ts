// When a node renews its certificate (DESIGN §7): at a random point between 50% and 80% of
// its lifetime, so a fleet issued at once does not renew at once (swarm does the same).

import { CryptoError } from "./errors.ts";

export const RENEW_FRACTION_MIN = 0.5;
export const RENEW_FRACTION_MAX = 0.8;

/**
 * The time (ms) to start renewing. `random` is uniform in [0, 1), from the caller's PRNG.
 */
export function renewalTimeMs(notBeforeMs: number, notAfterMs: number, random: number): number {
  if (!(notBeforeMs < notAfterMs)) throw new CryptoError("bad-input", "notBefore >= notAfter");
  if (!(random >= 0 && random < 1)) throw new CryptoError("bad-input", "random must be in [0, 1)");
  const fraction = RENEW_FRACTION_MIN + (RENEW_FRACTION_MAX - RENEW_FRACTION_MIN) * random;
  return notBeforeMs + Math.floor((notAfterMs - notBeforeMs) * fraction);
}

export type RenewalState = "valid" | "renew" | "expired-reenrol" | "expired-rejoin";

/**
 * What a node must do at `nowMs`: keep going, renew over its session, re-enrol with its old key
 * (expired less than the window ago), or join again with a token.
 */
export function renewalState(
  nowMs: number,
  renewAtMs: number,
  notAfterMs: number,
  reenrolWindowMs: number,
): RenewalState {
  if (nowMs < renewAtMs) return "valid";
  if (nowMs <= notAfterMs) return "renew";
  return nowMs <= notAfterMs + reenrolWindowMs ? "expired-reenrol" : "expired-rejoin";
}
