// The broker's policy hooks: who a connecting client is, and what it may publish and subscribe
// to. The broker asks; the policy answers. The development default lets everyone do anything
// on loopback (insecure mode); cert-authorizer.ts is the secure one: certificate identities and
// per-node ACLs (DESIGN §4 "Broker"). Mesh links between managers' brokers are recognised at
// CONNECT (meshPeer, or the broker's shared secret) and their publishes never reach mayPublish:
// the origin broker already authorized the original publisher.

import type { PeerCert } from "../tls-server.ts";

/** What a client presented in its CONNECT, plus where it came from. */
export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  remoteAddress: string | undefined;
  /**
   * The certificate the client presented in the TLS handshake (it proved holding its key) and
   * whether OpenSSL verified it; absent on plain TCP and for clients without one. Fleet's own
   * rules (role, cluster, revocation) are the authorizer's to apply.
   */
  peerCertificate?: PeerCert;
}

/** `reenrolling`: a node whose certificate expired within the re-enrolment window; it may only
 * ask for a new certificate (core/crypto/acl.ts, principal kind "reenrol"). */
export type Role = "node" | "manager" | "operator" | "joining" | "reenrolling" | "anonymous";

/** Who a session is, as the authorizer decided at CONNECT. */
export interface Identity {
  /** The principal ACLs are written for: a node id, an operator name, a join request. */
  principal: string;
  role: Role;
  /** Serial (hex) of the certificate the session authenticated with, if any. */
  serial?: string;
  /** The node id the certificate names (CN), if any. */
  nodeId?: string;
  /** When that certificate expires (ms since the epoch); a re-enrolling session's: when its
   * window ends, as of its admission. */
  notAfterMs?: number;
  /** A re-enrolling session's certificate's own notAfter: its window ends this plus the
   * cluster's window as it is now (manager/secure.ts dropRevoked). */
  certNotAfterMs?: number;
}

export interface Authorizer {
  /** The identity of a connecting client, or undefined to refuse it (CONNACK 5). */
  authenticate(info: ConnectInfo): Identity | undefined | Promise<Identity | undefined>;
  /**
   * Whether this session may publish on this topic. Refusal closes the connection: MQTT 3.1.1
   * has no negative PUBACK, and [MQTT-3.3.5-2] lets the server disconnect instead of acking.
   */
  mayPublish(identity: Identity, clientId: string, topic: string): boolean;
  /** Whether this session may subscribe with this filter; refusal is SUBACK 0x80 for it. */
  maySubscribe(identity: Identity, clientId: string, filter: string): boolean;
  /**
   * Whether a client claiming to be a peer manager's mesh link (MESH_USERNAME, client id
   * MESH_CLIENT_PREFIX + its manager id) is one: its identity, or undefined to refuse. Absent:
   * the broker's shared mesh secret decides (insecure mode); with certificates, a manager
   * certificate naming that id does.
   */
  meshPeer?(info: ConnectInfo, managerId: string): Identity | undefined;
}

/** Development only: every client is an anonymous principal named by its client id. */
export const permissiveAuthorizer: Authorizer = {
  authenticate: (info) => ({ principal: info.clientId, role: "anonymous" }),
  mayPublish: () => true,
  maySubscribe: () => true,
};
