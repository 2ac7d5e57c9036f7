// The secure broker's authorizer (DESIGN §7): a client with a certificate is who its certificate
// says (CN node id, OU role, O cluster id), checked against the cluster root, its validity and
// the revocation list; a client without one may only be a joining session (username
// `fleet-join`, the join token as password, the join request id as client id) limited to its
// join topics. A certificate expired less than the re-enrolment window ago admits a restricted
// session (reenrol.ts): its own csr and cert topics only, so no hello, heartbeat or status of it
// ever reaches the dispatcher. Everything else is refused, and every refusal is logged with its
// reason. What a session may publish and subscribe to is core/crypto/acl.ts's decision.

import { authorize, type Principal } from "../../core/crypto/acl.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import type { Role as CertRole } from "../../core/crypto/identity.ts";
import type { JoinRole } from "../../core/crypto/token.ts";
import { isTopicId } from "../../core/topics.ts";
import type { PeerCert } from "../tls-server.ts";
import type { Authorizer, ConnectInfo, Identity, Role } from "./authorizer.ts";
import { MESH_CLIENT_PREFIX } from "./identify.ts";
import type { ReenrolIdentity } from "./reenrol.ts";

/** Username of a joining session; its password is the join token. */
export const JOIN_USERNAME = "fleet-join";
/** Client id of an agent's session: this prefix and its node id (edge-agent/session). */
export const AGENT_CLIENT_PREFIX = "fleet-agent-";

/** Who a checked certificate names (manager/secure.ts peerVerifier). */
export interface CertIdentity {
  nodeId: string;
  role: CertRole;
  clusterId: string;
  serial: string;
  notAfterMs: number;
}

export interface CertAuthorizerOptions {
  clusterId: string;
  /**
   * Checks a presented certificate (issuer = the cluster root, validity, cluster, revocation)
   * and returns its identity; throws (a CryptoError) to refuse.
   */
  verify(cert: PeerCert): CertIdentity;
  /** The role a join token grants, undefined for a wrong, rotated or malformed one. */
  joinTokenRole(token: string): JoinRole | undefined;
  /** A refused connection, publish or subscribe, with why. */
  refused(what: string, fields: Record<string, unknown>): void;
  /**
   * Checks a certificate `verify` refused as expired (reenrol.ts reenrolVerifier): its identity
   * when it may re-enrol, or throws to refuse. Absent: expired certificates are refused.
   */
  reenrol?(cert: PeerCert): ReenrolIdentity;
  /** A session admitted for re-enrolment only (logged: the operator sees it come back). */
  admitted?(what: string, fields: Record<string, unknown>): void;
}

const BROKER_ROLE: Record<CertRole, Role> = {
  worker: "node",
  manager: "manager",
  admin: "operator",
};

export class CertAuthorizer implements Authorizer {
  readonly #o: CertAuthorizerOptions;

  constructor(o: CertAuthorizerOptions) {
    this.#o = o;
  }

  authenticate(info: ConnectInfo): Identity | undefined {
    const refuse = (reason: string) => {
      this.#o.refused("connection refused", {
        client: info.clientId.slice(0, 64),
        remote: info.remoteAddress,
        reason,
      });
      return undefined;
    };
    if (info.peerCertificate) {
      let id: CertIdentity;
      try {
        id = this.#o.verify(info.peerCertificate);
      } catch (err) {
        if (err instanceof CryptoError && err.code === "expired" && this.#o.reenrol)
          return this.#reenrolling(info, info.peerCertificate, refuse);
        return refuse(`certificate: ${(err as Error).message}`);
      }
      const bad = clientIdProblem(info.clientId, id);
      if (bad) return refuse(bad);
      return {
        principal: id.nodeId,
        role: BROKER_ROLE[id.role],
        serial: id.serial,
        nodeId: id.nodeId,
        notAfterMs: id.notAfterMs,
      };
    }
    if (info.username !== JOIN_USERNAME) return refuse("no client certificate");
    const token = info.password?.toString("utf8") ?? "";
    if (this.#o.joinTokenRole(token) === undefined) return refuse("join token not valid");
    if (!isTopicId(info.clientId) || reservedClientId(info.clientId))
      return refuse("a join session's client id is its join request id");
    return { principal: info.clientId, role: "joining" };
  }

  /** A session that may only re-enrol (its certificate expired within the window). */
  #reenrolling(
    info: ConnectInfo,
    cert: PeerCert,
    refuse: (reason: string) => undefined,
  ): Identity | undefined {
    let id: ReenrolIdentity;
    try {
      id = this.#o.reenrol!(cert);
    } catch (err) {
      return refuse(`certificate: ${(err as Error).message}`);
    }
    // Its own ids only, whatever its role: it takes over its own stale session, nobody else's.
    if (info.clientId !== id.nodeId && info.clientId !== `${AGENT_CLIENT_PREFIX}${id.nodeId}`)
      return refuse(
        `re-enrolling ${id.nodeId} must use client id ${AGENT_CLIENT_PREFIX}${id.nodeId}`,
      );
    this.#o.admitted?.("re-enrolment session admitted", {
      client: info.clientId,
      remote: info.remoteAddress,
      node: id.nodeId,
      serial: id.serial,
      expired: new Date(id.notAfterMs).toISOString(),
    });
    return {
      principal: id.nodeId,
      role: "reenrolling",
      serial: id.serial,
      nodeId: id.nodeId,
      // The session ends with the window (dropRevoked drops sessions past notAfterMs, or past
      // certNotAfterMs plus the cluster's window as it is then).
      notAfterMs: id.windowEndMs,
      certNotAfterMs: id.notAfterMs,
    };
  }

  meshPeer(info: ConnectInfo, managerId: string): Identity | undefined {
    if (!info.peerCertificate) {
      this.#o.refused("mesh link refused", {
        remote: info.remoteAddress,
        reason: "no certificate",
      });
      return undefined;
    }
    try {
      const id = this.#o.verify(info.peerCertificate);
      if (id.role !== "manager") throw new Error(`a ${id.role} certificate is not a manager's`);
      if (id.nodeId !== managerId) throw new Error(`certificate names ${id.nodeId}`);
      const { serial, nodeId, notAfterMs } = id;
      return { principal: managerId, role: "manager", serial, nodeId, notAfterMs };
    } catch (err) {
      const reason = (err as Error).message;
      this.#o.refused("mesh link refused", {
        manager: managerId,
        remote: info.remoteAddress,
        reason,
      });
      return undefined;
    }
  }

  mayPublish(identity: Identity, clientId: string, topic: string): boolean {
    return this.#decide(identity, clientId, "publish", topic);
  }

  maySubscribe(identity: Identity, clientId: string, filter: string): boolean {
    return this.#decide(identity, clientId, "subscribe", filter);
  }

  #decide(
    identity: Identity,
    clientId: string,
    access: "publish" | "subscribe",
    topic: string,
  ): boolean {
    const p = this.#principal(identity);
    const d = p ? authorize(p, access, topic) : { allow: false, reason: "no principal" };
    if (!d.allow) this.#o.refused(`${access} refused`, { client: clientId, reason: d.reason });
    return d.allow;
  }

  #principal(identity: Identity): Principal | undefined {
    const clusterId = this.#o.clusterId;
    if (identity.role === "joining")
      return { kind: "join", clusterId, requestId: identity.principal };
    if (identity.role === "reenrolling")
      return identity.nodeId === undefined
        ? undefined
        : { kind: "reenrol", clusterId, nodeId: identity.nodeId };
    const role = (Object.keys(BROKER_ROLE) as CertRole[]).find(
      (r) => BROKER_ROLE[r] === identity.role,
    );
    if (!role || identity.nodeId === undefined) return undefined;
    return { kind: "node", clusterId, nodeId: identity.nodeId, role };
  }
}

/** Client ids of the fleet's own clients: only their owners may use them. */
function reservedClientId(clientId: string): boolean {
  return clientId.startsWith("fleet-") || clientId.startsWith(MESH_CLIENT_PREFIX);
}

/**
 * A client id takes over any live session with the same id [MQTT-3.1.4-2], so a node may only
 * use its own: a worker `fleet-agent-<id>` or `<id>`; an operator none of the fleet's own ids.
 * Managers (trusted with every cluster topic) may use any.
 */
function clientIdProblem(clientId: string, id: CertIdentity): string | undefined {
  if (id.role === "manager") return undefined;
  if (id.role === "worker") {
    if (clientId === id.nodeId || clientId === `${AGENT_CLIENT_PREFIX}${id.nodeId}`)
      return undefined;
    return `worker ${id.nodeId} must use client id ${AGENT_CLIENT_PREFIX}${id.nodeId}`;
  }
  if (reservedClientId(clientId) && !clientId.startsWith("fleet-monitor-"))
    return `operator ${id.nodeId} may not use the fleet's client id ${clientId.slice(0, 64)}`;
  return undefined;
}
