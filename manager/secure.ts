// The manager's secure mode in one place (DESIGN §7 "everywhere in transit"): from the node's
// TLS material and the replicated store's revocation list and join tokens, the pieces the daemon
// plugs into each listener and client. Broker: TLS 1.3 presenting leaf + root, certificates
// checked at CONNECT by CertAuthorizer, join sessions by token. Raft: mutual TLS with manager
// certificates. API TCP port: mutual TLS with admin or manager certificates. Mesh links: mqtts
// with this manager's certificate. Insecure mode (`--insecure`) uses none of this and is for
// loopback only (insecureProblem).
//
//   const sec = { clusterId, tls: () => material, isRevoked, joinTokenRole, log };
//   const { tls, authorizer } = brokerSecurity(sec);  Broker.start({ tls, authorizer, ... })
//   RaftNode.start({ sockets: raftSockets(sec), ... });  new Mesh({ tls: meshTls(sec), ... })
//   new ApiServer(ctx, { tcp: { host, port, tls: apiTls(sec) } })
//   on a revocation-list change: dropRevoked(broker, sec)

import { CryptoError, type CryptoErrorCode } from "../core/crypto/errors.ts";
import type { Role } from "../core/crypto/identity.ts";
import type { JoinRole } from "../core/crypto/token.ts";
import { isTopicId } from "../core/topics.ts";
import type { ApiTls } from "./api/http.ts";
import type { Identity } from "./broker/authorizer.ts";
import type { Broker } from "./broker/broker.ts";
import { CertAuthorizer, type CertIdentity } from "./broker/cert-authorizer.ts";
import { isLoopback, type ListenerTls } from "./broker/listener.ts";
import { reenrolVerifier } from "./broker/reenrol.ts";
import type { TlsMaterial } from "./ca/tls.ts";
import type { Logger } from "./log.ts";
import { type RaftOwners, raftBindingProblem } from "./raft/peer-binding.ts";
import { type SocketFactory, tlsSockets } from "./raft/sockets.ts";
import { type ManagerClientTls, managerClientOptions, type PeerCert } from "./tls-server.ts";

export { JOIN_USERNAME } from "./broker/cert-authorizer.ts";

/** `<data-dir>/certs/{ca.pem,node.pem,node.key}` as strings (contract 1). */
export type NodeTls = TlsMaterial;

export interface SecurityDeps {
  clusterId: string;
  /** Current material (a function: renewal swaps it; read at every connection). */
  tls: () => NodeTls;
  /** True when this certificate serial (hex, as core/crypto prints it) is revoked. */
  isRevoked(serialHex: string): boolean;
  /** True when this node was removed from the cluster (it can never return). Optional. */
  isNodeRemoved?(nodeId: string): boolean;
  /** The role a join token grants (matches the store's token hashes), or undefined. */
  joinTokenRole(token: string): JoinRole | undefined;
  log: Logger;
  /** Clock for validity checks; Date.now when absent (tests inject). */
  now?: () => number;
  /**
   * How long after expiry a node's certificate still admits it to re-enrol (a restricted broker
   * session: its csr and cert topics only); limits.reenrolWindowMsDefault when absent.
   */
  reenrolWindowMs?: () => number;
  /** Which node owns which Raft id (the store's managers): binds Raft peers' certificates to
   * the ids they claim (manager/raft/peer-binding.ts). Absent: any manager for any id. */
  raftOwners?: RaftOwners;
}

/** Who a checked certificate names. */
export type PeerIdentity = CertIdentity;

const OPENSSL_REASONS: Record<string, [CryptoErrorCode, string]> = {
  CERT_HAS_EXPIRED: ["expired", "certificate has expired"],
  CERT_NOT_YET_VALID: ["not-yet-valid", "certificate not yet valid"],
};

/**
 * Checks a presented certificate as fleet understands it. OpenSSL has verified (or refused)
 * the chain to this cluster's root and the validity period during the handshake; this checks
 * the validity again, then OU = one of the roles (`roles`, or any fleet role), CN a node id,
 * O = this cluster, the serial not revoked and the node not removed. Throws a CryptoError
 * saying why not; each refusal is then logged by the caller.
 */
export function peerVerifier(
  d: SecurityDeps,
  roles: readonly Role[] = ["worker", "manager", "admin"],
): (peer: PeerCert) => PeerIdentity {
  return (p) => {
    if (!p.verified) {
      const [code, text] = OPENSSL_REASONS[p.verifyError ?? ""] ?? [
        "unknown-issuer",
        "certificate was not issued by this cluster's CA",
      ];
      throw new CryptoError(code, `${text} (${p.verifyError ?? "not verified"})`);
    }
    const nodeId = p.commonName ?? "";
    const role = p.organizationalUnit as Role;
    if (!["worker", "manager", "admin"].includes(role) || !isTopicId(nodeId))
      throw new CryptoError("wrong-identity", "certificate has no fleet node id and role");
    if (p.organization !== d.clusterId)
      throw new CryptoError("wrong-identity", `certificate belongs to cluster ${p.organization}`);
    const now = (d.now ?? Date.now)();
    if (!(now >= p.notBeforeMs))
      throw new CryptoError("not-yet-valid", "certificate not yet valid");
    if (!(now <= p.notAfterMs))
      throw new CryptoError("expired", `certificate of ${nodeId} has expired`);
    if (d.isRevoked(p.serial))
      throw new CryptoError("revoked", `certificate ${p.serial} of ${nodeId} is revoked`);
    if (d.isNodeRemoved?.(nodeId))
      throw new CryptoError("revoked", `node ${nodeId} was removed from the cluster`);
    if (!roles.includes(role))
      throw new CryptoError(
        "wrong-identity",
        `${role} certificate of ${nodeId} refused here (${roles.join(" or ")} only)`,
      );
    return { nodeId, role, clusterId: d.clusterId, serial: p.serial, notAfterMs: p.notAfterMs };
  };
}

export interface BrokerSecurity {
  /** Broker.start's `tls` option. */
  tls: ListenerTls;
  /** Broker.start's `authorizer` option. */
  authorizer: CertAuthorizer;
}

/**
 * The broker's TLS listener option and certificate authorizer. A node certificate expired less
 * than the re-enrolment window ago admits a session restricted to re-enrolment
 * (broker/reenrol.ts); every other refusal of peerVerifier stands.
 */
export function brokerSecurity(d: SecurityDeps): BrokerSecurity {
  const log = d.log.child("broker-auth");
  const authorizer = new CertAuthorizer({
    clusterId: d.clusterId,
    verify: peerVerifier(d),
    reenrol: reenrolVerifier({
      rootPem: () => d.tls().caPem,
      isRevoked: (serial) => d.isRevoked(serial),
      ...(d.isNodeRemoved ? { isNodeRemoved: (id: string) => d.isNodeRemoved!(id) } : {}),
      ...(d.reenrolWindowMs ? { windowMs: d.reenrolWindowMs } : {}),
      ...(d.now ? { now: d.now } : {}),
    }),
    joinTokenRole: (token) => d.joinTokenRole(token),
    refused: (what, fields) => log.warn(what, fields),
    admitted: (what, fields) => log.info(what, fields),
  });
  const tls: ListenerTls = {
    material: d.tls,
    onHandshakeError: (err, remote) =>
      log.warn("tls handshake failed", { remote, reason: err.message }),
  };
  return { tls, authorizer };
}

/**
 * Closes the live broker sessions (mesh links included) whose certificate was revoked, whose
 * node was removed or whose certificate has expired (a re-enrolling session: whose window, the
 * cluster's as it is now, has closed). The daemon calls it whenever the store's cluster object
 * changes (revocations, removed nodes, the window; and may call it periodically for expiry).
 * Returns how many sessions it closed.
 */
export function dropRevoked(broker: Broker, d: SecurityDeps): number {
  const now = (d.now ?? Date.now)();
  const log = d.log.child("broker-auth");
  const window = d.reenrolWindowMs?.();
  const why = (s: { identity: Identity }) => {
    const { serial, nodeId, notAfterMs, certNotAfterMs } = s.identity;
    if (serial !== undefined && d.isRevoked(serial)) return `certificate ${serial} revoked`;
    if (nodeId !== undefined && d.isNodeRemoved?.(nodeId)) return `node ${nodeId} removed`;
    // A re-enrolling session: its window as the cluster's is now (shortened or lengthened).
    if (certNotAfterMs !== undefined && window !== undefined)
      return now > certNotAfterMs + window ? "re-enrolment window closed" : undefined;
    if (notAfterMs !== undefined && now > notAfterMs) return "certificate expired";
    return undefined;
  };
  let n = 0;
  for (const s of broker.sessions()) {
    const reason = why(s);
    if (reason === undefined) continue;
    n += broker.dropSessions((x) => x === s, reason);
    log.warn("session dropped", { client: s.clientId, reason });
  }
  return n;
}

/**
 * The Raft transport's socket factory: mutual TLS 1.3, manager certificates both ways, and
 * (with `raftOwners`) each peer's certificate bound to the Raft id it claims; a mismatch is
 * refused and logged on whichever side sees it.
 */
export function raftSockets(d: SecurityDeps): SocketFactory {
  const log = d.log.child("raft-tls");
  const owners = d.raftOwners;
  return tlsSockets({
    material: d.tls,
    checkPeer: peerVerifier(d, ["manager"]),
    onRefused: (reason, remote) => log.warn("peer refused", { remote, reason }),
    ...(owners
      ? {
          bindRaftId: (raftId: number, nodeId: string) => {
            const why = raftBindingProblem(owners, raftId, nodeId);
            if (why !== undefined) log.warn("peer refused: raft identity", { raftId, nodeId, why });
            return why;
          },
        }
      : {}),
  });
}

/** The API TCP port's TLS: admin or manager certificates of this cluster; workers refused. */
export function apiTls(d: SecurityDeps): ApiTls {
  const log = d.log.child("api-tls");
  return {
    material: d.tls,
    checkPeer: peerVerifier(d, ["admin", "manager"]),
    onRefused: (reason, remote) => log.warn("api client refused", { remote, reason }),
  };
}

/**
 * TLS client options for this manager's MQTT clients of manager brokers: mesh links (Mesh's
 * `tls`) and the manager's own clients of its local broker (the dispatcher's bus: dial
 * mqtts://127.0.0.1:<port> with these). The server must hold a manager certificate of this
 * cluster (SAN fleet-manager) that is not revoked.
 */
export function meshTls(d: SecurityDeps): () => ManagerClientTls {
  const check = peerVerifier(d, ["manager"]);
  return () => managerClientOptions(d.tls(), (peer) => void check(peer));
}

/**
 * Why insecure mode may not run with these listen/advertise addresses (any not loopback), or
 * undefined when it may. Plain TCP is for development on one machine only.
 */
export function insecureProblem(addresses: readonly string[]): string | undefined {
  const bad = addresses.filter((a) => !isLoopback(a.replace(/^\[|\]$/g, "")));
  if (bad.length === 0) return undefined;
  return (
    `--insecure runs plain TCP and is refused on non-loopback addresses (${bad.join(", ")}); ` +
    "found a secure cluster with `fleet init` and `fleet join` instead"
  );
}
