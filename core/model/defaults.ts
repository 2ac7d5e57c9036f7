// Defaults match Docker swarm's where swarm has one, so a swarm user is never surprised.

import { limits } from "../limits.ts";
import type { ClusterSpec, RestartPolicy, UpdateConfig } from "./types.ts";

export const DAY_MS = 24 * 60 * 60 * 1000;

export const defaultRestartPolicy: RestartPolicy = {
  condition: "any",
  delayMs: 5000,
  maxAttempts: 0,
  windowMs: 0,
};

export const defaultUpdateConfig: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: "pause",
  monitorMs: 5000,
  maxFailureRatio: 0,
  order: "stop-first",
};

export const defaultStopGracePeriodMs = 10_000;

export const defaultClusterSpec: ClusterSpec = {
  name: "default",
  heartbeatPeriodMs: 5000,
  nodeCertExpiryMs: 90 * DAY_MS,
  reenrolWindowMs: limits.reenrolWindowMsDefault,
  // On: cheap below a few hundred nodes and what lets agents see each other without managers;
  // large fleets turn it off with one command (docs/security.md "Gossip sealing", "Cost").
  gossip: true,
  taskHistoryLimit: 5,
  snapshotIntervalEntries: 10_000,
  dispatcherGracePeriods: 3,
  autolock: false,
};

/** The cluster's re-enrolment window: its spec's, or the default (30 days) for a cluster
 * object written before the setting existed (or no cluster object yet). */
export function clusterReenrolWindowMs(spec: Partial<ClusterSpec> | undefined): number {
  return spec?.reenrolWindowMs ?? defaultClusterSpec.reenrolWindowMs!;
}

/** Whether the cluster lets its agents gossip: its spec's setting, or on (the default) for a
 * cluster object written before the setting existed (or no cluster object yet). */
export function clusterGossip(spec: Partial<ClusterSpec> | undefined): boolean {
  return spec?.gossip ?? defaultClusterSpec.gossip!;
}
