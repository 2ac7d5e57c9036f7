// Per-service orchestration options that swarm's spec has no field for. They ride in service
// labels, so they pass the API's validation and the store's shapes unchanged and a swarm user
// can set them with `--label`:
//
//   fleet.disconnect-grace=90s   how long tasks stay on a down node before they are replaced
//                                (ms, s, m or h; "0" replaces at once). Default 30 s.
//   fleet.rebalance=gradual      move tasks, one at a time, onto nodes that join or come back
//                                (see rebalance.ts). Default off.
//
// A value that does not parse falls back to the default (validation belongs to the API).

import { limits } from "../limits.ts";
import type { Service } from "../model/types.ts";

export const DISCONNECT_GRACE_LABEL = "fleet.disconnect-grace";
export const REBALANCE_LABEL = "fleet.rebalance";

export interface ServiceOptions {
  disconnectGraceMs: number;
  rebalance: boolean;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `90s`, `5m`, `1500ms`, `0`; undefined when it is not a duration. */
export function parseDurationMs(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  if (m[2] === undefined) return n === 0 ? 0 : undefined;
  return Math.round(n * UNIT_MS[m[2]]!);
}

export function serviceOptions(s: Pick<Service, "spec">): ServiceOptions {
  const labels = s.spec.labels;
  const raw = labels[DISCONNECT_GRACE_LABEL];
  const grace = raw === undefined ? undefined : parseDurationMs(raw);
  return {
    disconnectGraceMs:
      grace === undefined
        ? limits.disconnectGraceMsDefault
        : Math.min(grace, limits.disconnectGraceMsMax),
    rebalance: labels[REBALANCE_LABEL]?.toLowerCase() === "gradual",
  };
}
