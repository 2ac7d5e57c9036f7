// Promotion and demotion reach the certificate at once (DESIGN §7). The pieces:
//
//  - Who reissues. Role changes in fleet happen to manager daemons only: an edge agent cannot
//    run the manager components, so promoting one is refused (`promotionRefusal`), and demoting
//    a worker changes nothing. Every manager holds the cluster's CA, so a manager whose Node's
//    role differs from its certificate's OU renews at once through its own renewal
//    (manager/ca/self-renewal.ts): a new key (the one that held the old role's powers is
//    retired with it) and the store's role, through the same checks and crash-safe file writes
//    as a scheduled renewal. The record on the Node gains the new certificate's role and keeps
//    the old-role certificate as `superseded` until it is revoked.
//  - When the old certificate dies. A demoted manager keeps presenting its manager certificate
//    until it is out of the Raft group (a worker certificate would cut it off from its peers
//    before its removal commits, which in a two-manager group needs its own vote). The leader
//    removes it from Raft once its worker certificate is recorded (or after
//    `DEMOTION_CERT_GRACE_MS`), and revokes every superseded serial, and a recorded certificate
//    that is not a worker's, in the same write that clears its managerStatus. A promoted member
//    uses its new manager certificate as soon as it is recorded: its superseded serials are
//    revoked then. Revoked serials are refused by every broker, mesh link, Raft peer and API
//    port (manager/secure.ts), and live broker sessions are dropped.

import { limits } from "../../core/limits.ts";
import type { NodeCertificate } from "../../core/model/types.ts";
import type { WriteTx } from "../../core/store/tx.ts";
import { RevocationList } from "./revocation.ts";

/** How long the leader waits for a demoted manager's worker certificate before removing it
 * from Raft anyway (it is then revoked all the same; a locked CA or a dead manager). */
export const DEMOTION_CERT_GRACE_MS = 15_000;

/** Node.certificate as role changes record it (role and superseded: core/model/types.ts). */
export type RoleCertificate = NodeCertificate;

interface NodeLike {
  id: string;
  spec: { role: string };
  certificate?: NodeCertificate;
  managerStatus?: unknown;
}

export function roleCertificate(n: NodeLike): RoleCertificate | undefined {
  return n.certificate;
}

/**
 * The record for a certificate just issued to a node that presented `presented`: when the role
 * changed, the presented certificate joins the superseded ones (kept until revoked).
 */
export function nextCertificateRecord(
  prev: NodeCertificate | undefined,
  issued: { serial: string; notAfterMs: number; role: "worker" | "manager" },
  presented: { serial: string; notAfterMs: number; role: string | undefined },
): RoleCertificate {
  const old = prev?.superseded ?? [];
  const superseded =
    presented.role !== issued.role && presented.serial !== issued.serial
      ? [
          ...old.filter((c) => c.serial !== presented.serial),
          { serial: presented.serial, notAfter: presented.notAfterMs },
        ]
      : old;
  return {
    serial: issued.serial,
    notAfter: issued.notAfterMs,
    role: issued.role,
    ...(superseded.length > 0 ? { superseded } : {}),
  };
}

/**
 * A member (still in the Raft group) whose superseded certificates may be revoked now: it was
 * promoted (or its demotion undone) and its manager certificate is recorded, so it presents
 * that one. A demoted member keeps its old manager certificate until it leaves (see `leaving`).
 */
export function supersededDue(n: NodeLike): NodeCertificate[] {
  const c = roleCertificate(n);
  if (!c?.superseded?.length) return [];
  if (n.managerStatus === undefined) return c.superseded; // out of the group already
  return n.spec.role === "manager" && c.role === "manager" ? c.superseded : [];
}

/**
 * What to revoke when a demoted manager leaves the Raft group: its superseded certificates and
 * its recorded one unless that is a worker certificate (the reissue did not happen in time).
 */
export function revokedOnLeave(n: NodeLike): NodeCertificate[] {
  const c = roleCertificate(n);
  if (!c) return [];
  return [
    ...(c.superseded ?? []),
    ...(c.role === "worker" ? [] : [{ serial: c.serial, notAfter: c.notAfter }]),
  ];
}

/** True when a demoted member's worker certificate is recorded (it may leave the group now). */
export function workerCertificateRecorded(n: NodeLike): boolean {
  const c = roleCertificate(n);
  return c === undefined || c.role === "worker";
}

/** The node's record without its superseded certificates (after they were revoked). */
export function withoutSuperseded(c: NodeCertificate | undefined): NodeCertificate | undefined {
  if (!c) return c;
  const { superseded: _, ...rest } = c;
  return rest;
}

/**
 * Revokes serials in the cluster object (the node keeps its id: it may go on as a worker).
 * Returns the serials actually added. Throws the revocation list's CryptoError when full.
 */
export function revokeSerialsInTx(tx: WriteTx, certs: NodeCertificate[], nowMs: number): string[] {
  if (certs.length === 0) return [];
  const cluster = tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0];
  if (!cluster) return [];
  const list = RevocationList.fromJSON(cluster.revocations ?? { serials: [], removedNodes: [] });
  const added = certs.filter((c) => !list.isRevoked(c.serial));
  if (added.length > 0) list.prune(nowMs, limits.reenrolWindowMsMax);
  for (const c of added) list.revoke(c.serial, c.notAfter, nowMs);
  if (added.length > 0)
    tx.update("clusters", { ...cluster, revocations: list.toJSON(), updatedAt: nowMs });
  return added.map((c) => c.serial);
}

/**
 * Why `fleet node promote` (or `node update --role manager`) of this node is refused, or
 * undefined. A node can be a manager only if a manager daemon runs there: one still in the
 * Raft group (managerStatus) may be promoted back (a demotion undone). An edge agent cannot
 * run the manager components, and a manager that already left has stopped its daemon; both
 * need a manager daemon to join with the manager token.
 */
export function promotionRefusal(
  n: NodeLike & { description: { hostname: string } },
): string | undefined {
  if (n.spec.role === "manager" || n.managerStatus !== undefined) return undefined;
  const name = `${n.description.hostname} (${n.id.slice(0, 12)})`;
  return (
    `node ${name} runs no manager daemon (it is an edge agent, or a manager that already left ` +
    "the Raft group) and cannot be promoted in place: to add a manager on that host, run " +
    "`fleet join --token <manager token> <manager address>` there (`fleet join-token manager` " +
    "prints the command); its agent can keep running next to it"
  );
}
