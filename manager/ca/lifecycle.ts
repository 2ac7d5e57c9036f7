// The CA's lifecycle on one manager: the CA as loaded from the store's cluster object (cached
// while its CA fields are unchanged), autolock (the root key sealed in the store; the unlock key
// only ever in this manager's memory, given by `fleet unlock` after a restart, or made here when
// autolock is turned on or the key rotated), and revocation on `fleet node rm`.
//
//   const keeper = new CaKeeper(clusterId);
//   keeper.ca(cluster)            // the CA, or undefined while locked / absent
//   keeper.unlock(cluster, key)   // `fleet unlock`
//   tx.update("clusters", keeper.setAutolock(cluster, true).cluster)   // then show unlockKey

import { CryptoError } from "../../core/crypto/errors.ts";
import { loadRootCA } from "../../core/crypto/identity.ts";
import { privateKeyFromPem, privateKeyToPem } from "../../core/crypto/keys.ts";
import { limits } from "../../core/limits.ts";
import { clusterReenrolWindowMs } from "../../core/model/defaults.ts";
import type { Cluster, Node } from "../../core/model/types.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import { CertificateAuthority } from "./ca.ts";
import { generateUnlockKey, isSealed, openCAKey, sealCAKey } from "./keystore.ts";
import { RevocationList } from "./revocation.ts";

/** The cluster object's CA fields for a new CA (root key not sealed) and its join tokens. */
export function clusterCAFields(
  ca: CertificateAuthority,
  tokens: { worker: string; manager: string },
): Required<Pick<Cluster, "rootCA" | "joinTokens" | "joinTokenStrings">> {
  return {
    rootCA: {
      certPem: ca.root.certPem,
      keyPem: privateKeyToPem(ca.root.key),
      keyEncrypted: false,
      digest: ca.root.digest,
    },
    joinTokens: ca.joinTokenHashes,
    joinTokenStrings: tokens,
  };
}

export class CaLocked extends Error {
  constructor() {
    super("the cluster's CA key is sealed (autolock): run `fleet unlock` on this manager");
    this.name = "CaLocked";
  }
}

export class CaKeeper {
  #unlockKey: string | undefined;
  #cache: { key: string; ca: CertificateAuthority } | undefined;

  constructor(readonly clusterId: string) {}

  /** The unlock key this manager holds (after unlock, or after it sealed the key). */
  get unlockKey(): string | undefined {
    return this.#unlockKey;
  }

  isLocked(cluster: Cluster | undefined): boolean {
    const root = cluster?.rootCA;
    return root?.keyEncrypted === true && this.#keyPem(cluster) === undefined;
  }

  #keyPem(cluster: Cluster | undefined): string | undefined {
    const root = cluster?.rootCA;
    if (!root) return undefined;
    if (!root.keyEncrypted) return root.keyPem;
    if (this.#unlockKey === undefined) return undefined;
    try {
      return openCAKey(root.keyPem, this.#unlockKey, this.clusterId);
    } catch {
      return undefined; // rotated elsewhere: this manager needs the new key
    }
  }

  /** The CA of the cluster object; undefined without a root CA or while locked. */
  ca(cluster: Cluster | undefined): CertificateAuthority | undefined {
    const root = cluster?.rootCA;
    if (!cluster || !root || !cluster.joinTokens) return undefined;
    const key = JSON.stringify([
      root.digest,
      root.keyPem,
      cluster.joinTokens,
      cluster.revocations ?? null,
      cluster.spec.nodeCertExpiryMs,
      this.#unlockKey ?? "",
    ]);
    // The re-enrolment window is read live (renewals and re-enrolment through the join
    // listener both go through CertificateAuthority.renew).
    const windowMs = clusterReenrolWindowMs(cluster.spec);
    if (this.#cache?.key === key) {
      this.#cache.ca.reenrolWindowMs = windowMs;
      return this.#cache.ca;
    }
    const pem = this.#keyPem(cluster);
    if (pem === undefined) return undefined;
    const ca = new CertificateAuthority({
      clusterId: this.clusterId,
      root: loadRootCA(root.certPem, privateKeyFromPem(pem)),
      joinTokenHashes: cluster.joinTokens,
      revocations: RevocationList.fromJSON(
        cluster.revocations ?? { serials: [], removedNodes: [] },
      ),
      nodeCertExpiryMs: cluster.spec.nodeCertExpiryMs,
      reenrolWindowMs: windowMs,
    });
    this.#cache = { key, ca };
    return ca;
  }

  /** `fleet unlock`: checks the key against the sealed CA key and keeps it in memory. */
  unlock(cluster: Cluster | undefined, unlockKey: string): void {
    const root = cluster?.rootCA;
    if (!root) throw new CryptoError("bad-input", "this cluster has no certificate authority");
    if (!root.keyEncrypted || !isSealed(root.keyPem))
      throw new CryptoError("bad-input", "the cluster is not locked (autolock is off)");
    openCAKey(root.keyPem, unlockKey, this.clusterId); // throws bad-proof on a wrong key
    this.#unlockKey = unlockKey.trim();
  }

  /**
   * `fleet cluster update --autolock=true|false`: the cluster object with the CA key sealed
   * under a fresh unlock key (returned, to show once) or stored open again. Needs the CA
   * unlocked on this manager.
   */
  setAutolock(cluster: Cluster, on: boolean): { cluster: Cluster; unlockKey?: string } {
    const root = cluster.rootCA;
    if (!root) throw new CryptoError("bad-input", "this cluster has no certificate authority");
    const pem = this.#keyPem(cluster);
    if (pem === undefined) throw new CaLocked();
    const spec = { ...cluster.spec, autolock: on };
    if (!on) {
      this.#unlockKey = undefined;
      return {
        cluster: { ...cluster, spec, rootCA: { ...root, keyPem: pem, keyEncrypted: false } },
      };
    }
    const unlockKey = generateUnlockKey();
    const sealed = sealCAKey(pem, unlockKey, this.clusterId);
    this.#unlockKey = unlockKey;
    return {
      cluster: { ...cluster, spec, rootCA: { ...root, keyPem: sealed, keyEncrypted: true } },
      unlockKey,
    };
  }

  /** `fleet unlock-key --rotate`: the same CA key sealed under a new unlock key. */
  rotateUnlockKey(cluster: Cluster): { cluster: Cluster; unlockKey: string } {
    if (!cluster.rootCA?.keyEncrypted)
      throw new CryptoError("bad-input", "autolock is off: there is no unlock key to rotate");
    const r = this.setAutolock(cluster, true);
    return { cluster: r.cluster, unlockKey: r.unlockKey! };
  }
}

/**
 * `fleet node rm`, inside the removing transaction: the node's certificate serial is revoked
 * and its id retired for good in the cluster object (contract 5), so no manager renews,
 * re-enrols or re-joins it and every broker refuses and drops it.
 */
export function revokeNodeInTx(tx: WriteTx, node: Node, nowMs: number): void {
  const cluster = tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0];
  if (!cluster) return;
  const list = RevocationList.fromJSON(cluster.revocations ?? { serials: [], removedNodes: [] });
  const certs = node.certificate
    ? [{ serial: node.certificate.serial, notAfterMs: node.certificate.notAfter }]
    : [];
  // Serials expired longer ago than the longest window the cluster can be set to can never be
  // presented again (pruning by the current window would let a later, longer one readmit them).
  list.prune(nowMs, limits.reenrolWindowMsMax);
  list.removeNode(node.id, certs, nowMs);
  tx.update("clusters", { ...cluster, revocations: list.toJSON(), updatedAt: nowMs });
}
