// The broker's policy hooks: who a connecting client is, and what it may publish and subscribe
// to. The broker asks; the policy answers. The development default lets everyone do anything
// on loopback; the security work replaces it with certificate identities and per-node ACLs
// (DESIGN §4 "Broker"). Mesh links between managers' brokers never reach the authorizer: the
// broker checks the mesh credential itself and the origin broker already authorized the
// original publisher.

/** What a client presented in its CONNECT, plus where it came from. */
export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  remoteAddress: string | undefined;
}

export type Role = "node" | "manager" | "operator" | "joining" | "anonymous";

/** Who a session is, as the authorizer decided at CONNECT. */
export interface Identity {
  /** The principal ACLs are written for: a node id, an operator name, a join request. */
  principal: string;
  role: Role;
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
}

/** Development only: every client is an anonymous principal named by its client id. */
export const permissiveAuthorizer: Authorizer = {
  authenticate: (info) => ({ principal: info.clientId, role: "anonymous" }),
  mayPublish: () => true,
  maySubscribe: () => true,
};
