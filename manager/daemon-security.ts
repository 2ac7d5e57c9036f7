// The daemon's side of secure mode (contract 3): SecurityDeps read from the replicated store
// (revoked serials, removed nodes, join token hashes, the re-enrolment window) and this
// manager's certificate files, and the broker sessions of revoked nodes dropped whenever the
// cluster object changes.

import { matchJoinToken, parseJoinToken } from "../core/crypto/token.ts";
import { clusterReenrolWindowMs } from "../core/model/defaults.ts";
import type { Cluster } from "../core/model/types.ts";
import type { Store } from "../core/store/store.ts";
import type { Broker } from "./broker/broker.ts";
import type { CertFiles } from "./identity.ts";
import type { Logger } from "./log.ts";
import { storeRaftOwners } from "./raft/peer-binding.ts";
import { dropRevoked, type SecurityDeps } from "./secure.ts";

export function securityDeps(
  store: Store,
  clusterId: string,
  tls: () => CertFiles,
  log: Logger,
): SecurityDeps {
  const cluster = (): Cluster | undefined => store.view((tx) => tx.get("clusters", clusterId));
  // Sets rebuilt only when the cluster object changes (checks run on every connection).
  let seen: Cluster | undefined;
  let serials = new Set<string>();
  let removed = new Set<string>();
  const lists = () => {
    const c = cluster();
    if (c !== seen) {
      seen = c;
      serials = new Set(c?.revocations?.serials.map((s) => s.serial) ?? []);
      removed = new Set(c?.revocations?.removedNodes ?? []);
    }
    return { serials, removed };
  };
  return {
    clusterId,
    tls,
    isRevoked: (serial) => lists().serials.has(serial),
    isNodeRemoved: (nodeId) => lists().removed.has(nodeId),
    joinTokenRole: (token) => {
      const c = cluster();
      if (!c?.rootCA || !c.joinTokens) return undefined;
      try {
        return matchJoinToken(parseJoinToken(token), c.joinTokens, c.rootCA.digest);
      } catch {
        return undefined;
      }
    },
    // Read at every re-enrolment attempt: `fleet cluster update --reenrol-window` applies at once.
    reenrolWindowMs: () => clusterReenrolWindowMs(cluster()?.spec),
    raftOwners: storeRaftOwners(store),
    log,
  };
}

/** Drops revoked or removed nodes' sessions on every change of the cluster object. */
export function watchRevocations(
  store: Store,
  broker: Broker,
  sec: SecurityDeps,
): { close(): void } {
  const watch = store.watch({ tables: ["clusters"] });
  void (async () => {
    for await (const _ of watch) {
      watch.drain();
      dropRevoked(broker, sec);
    }
  })();
  return { close: () => watch.close() };
}
