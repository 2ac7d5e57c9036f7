// The manager's embedded MQTT broker: aedes behind a guarded listener, with the policy hooks
// (authentication, per-client publish/subscribe authorization), node session callbacks, an
// in-process client API for the manager itself, and a publish gate the broker mesh plugs into.
// It must never let one client's bad input cost more than that client's connection.

import { randomUUID } from "node:crypto";
import type { EventEmitter } from "node:events";
import type { Server, Socket } from "node:net";
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from "aedes";
import { FleetError } from "../../core/errors.ts";
import { limits } from "../../core/limits.ts";
import { peerCert } from "../tls-server.ts";
import { type Authorizer, type Identity, permissiveAuthorizer } from "./authorizer.ts";
import { FrameGuard } from "./frame-guard.ts";
import { identify } from "./identify.ts";
import { boundPort, type ListenerTls, openListener } from "./listener.ts";
import {
  SINK_TOPIC,
  startsWithWildcard,
  topicFilterProblem,
  topicNameProblem,
} from "./topic-rules.ts";

export { MESH_CLIENT_PREFIX, MESH_USERNAME } from "./identify.ts";

export interface Session {
  readonly clientId: string;
  readonly identity: Identity;
  /** A link from a peer manager's broker (its publishes are never forwarded again). */
  readonly mesh: boolean;
  readonly remoteAddress: string | undefined;
}

export interface Message {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export type PublishOrigin =
  | { kind: "client"; session: Session }
  | { kind: "mesh"; session: Session }
  | { kind: "local" };

/**
 * Sees every publish after authorization and before aedes stores or delivers it. It may
 * rewrite the message in place (payload, retain); returning false swallows it. Throwing for a
 * client or mesh origin closes that connection.
 */
export interface PublishGate {
  admit(message: Message, origin: PublishOrigin): boolean | Promise<boolean>;
}

export type BrokerReportKind =
  | "packet-refused"
  | "connection-refused"
  | "auth-refused"
  | "publish-refused"
  | "subscribe-refused"
  | "client-error"
  | "handler-error"
  | "retained-full"
  | "session-dropped";

export interface BrokerReport {
  kind: BrokerReportKind;
  message: string;
  clientId?: string;
}

export interface BrokerOptions {
  /** Stable id for this broker (the manager's id); random when absent. */
  id?: string;
  /** Address to bind: loopback unless `plainTcpOffLoopback` (development only). */
  host?: string;
  port?: number;
  plainTcpOffLoopback?: boolean;
  /** TLS 1.3 with client certificates (secure mode); absent: plain TCP on loopback. */
  tls?: ListenerTls;
  authorizer?: Authorizer;
  /** The credential peer brokers present on mesh links; absent refuses every mesh link. */
  meshSecret?: string;
  onSessionOpen?: (session: Session) => void;
  onSessionClose?: (session: Session) => void;
  report?: (r: BrokerReport) => void;
  packetBytesMax?: number;
  connectionsMax?: number;
  retainedTopicsMax?: number;
}

type AuthDone = (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void;

function authError(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export class Broker {
  readonly id: string;
  readonly #aedes: Aedes;
  readonly #opts: BrokerOptions;
  readonly #authorizer: Authorizer;
  readonly #sessions = new Map<Client, Session>();
  readonly #sockets = new Set<Socket>();
  readonly #retained = new Set<string>();
  readonly #opened = new WeakSet<Client>();
  #server: Server | undefined;
  #gate: PublishGate | undefined;
  #closed = false;

  private constructor(aedes: Aedes, id: string, opts: BrokerOptions) {
    this.#aedes = aedes;
    this.id = id;
    this.#opts = opts;
    this.#authorizer = opts.authorizer ?? permissiveAuthorizer;
  }

  /** Starts aedes and the listener; resolves once both are ready. */
  static async start(opts: BrokerOptions = {}): Promise<Broker> {
    const id = opts.id ?? randomUUID();
    const aedes = new Aedes({
      id,
      connectTimeout: limits.brokerConnectTimeoutMs,
      drainTimeout: limits.brokerDrainTimeoutMs,
      maxInflightInbound: limits.brokerInboundInflightMax,
      queueLimit: limits.brokerPreConnectPacketsMax,
      maxClientsIdLength: limits.brokerClientIdLengthMax,
      // aedes' emitter queues publishes past `concurrency` (default 100) and drains that queue
      // recursively; a backlog of thousands overflowed the stack and killed the manager
      // (backlog.test.ts). In flight or queued, the messages cost the same memory.
      concurrency: 1_000_000,
    });
    const broker = new Broker(aedes, id, opts);
    broker.#wire();
    await aedes.listen();
    const { host = "127.0.0.1", port = 0, plainTcpOffLoopback = false, tls } = opts;
    // Handshakes in progress count too, with room for a burst of reconnects above the cap.
    const connectionsMax = (opts.connectionsMax ?? limits.brokerConnectionsMax) * 2;
    try {
      broker.#server = await openListener(
        { host, port, plainTcpOffLoopback, tls, connectionsMax },
        (socket) => broker.#accept(socket),
      );
    } catch (err) {
      await broker.close(); // aedes runs timers from listen(): stop them
      throw err;
    }
    return broker;
  }

  get port(): number {
    if (!this.#server) throw new FleetError("broker", "not-listening", "broker is not listening");
    return boundPort(this.#server);
  }

  /** Where a client on this machine reaches the broker. */
  get url(): string {
    const host = this.#opts.host ?? "127.0.0.1";
    const reach = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
    const scheme = this.#opts.tls ? "mqtts" : "mqtt";
    return `${scheme}://${reach.includes(":") ? `[${reach}]` : reach}:${this.port}`;
  }

  /** Connected sessions, mesh links included. */
  sessions(): Session[] {
    return [...this.#sessions.values()];
  }

  /**
   * Closes every live session the predicate picks (a revoked node's, an expired certificate's),
   * mesh links included; reports each. Returns how many were closed.
   */
  dropSessions(pick: (s: Session) => boolean, reason: string): number {
    let n = 0;
    for (const [client, s] of this.#sessions) {
      if (!pick(s)) continue;
      n++;
      this.#report("session-dropped", `${s.identity.principal}: ${reason}`, s.clientId);
      client.close();
    }
    return n;
  }

  /** Installs (or removes) the publish gate; the broker mesh is the one user. */
  setGate(gate: PublishGate | undefined): void {
    this.#gate = gate;
  }

  /** Publishes as the manager itself: no socket, no authorizer, through the gate. */
  async publish(
    topic: string,
    payload: Buffer | string,
    opts: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const problem = topicNameProblem(topic);
    if (problem) throw new FleetError("broker", "bad-topic", `topic ${topic} ${problem}`);
    const message: Message = {
      topic,
      payload: typeof payload === "string" ? Buffer.from(payload) : payload,
      qos: opts.qos ?? 0,
      retain: opts.retain ?? false,
    };
    if (!(await this.#admit(message, { kind: "local" }))) return;
    const packet = { cmd: "publish", dup: false, ...message } as PublishPacket;
    await new Promise<void>((resolve, reject) =>
      this.#aedes.publish(packet, (err) => (err ? reject(err) : resolve())),
    );
  }

  /**
   * Subscribes the manager itself. The handler sees each matching message once as it is
   * published (no retained replay: read `retained()` for that). Returns the unsubscribe.
   */
  async subscribe(filter: string, handler: (m: Message) => void): Promise<() => Promise<void>> {
    const problem = topicFilterProblem(filter);
    if (problem) throw new FleetError("broker", "bad-filter", `filter ${filter} ${problem}`);
    const skipDollar = startsWithWildcard(filter);
    const deliver = (packet: AedesPublishPacket, done: () => void) => {
      if (!(skipDollar && packet.topic.startsWith("$"))) this.#deliverLocal(packet, handler);
      done();
    };
    await new Promise<void>((resolve) => this.#aedes.subscribe(filter, deliver, resolve));
    return () => new Promise<void>((resolve) => this.#aedes.unsubscribe(filter, deliver, resolve));
  }

  /** The retained messages whose topics match the filter. */
  async retained(filter = "#"): Promise<Message[]> {
    const out: Message[] = [];
    const persistence = (this.#aedes as unknown as { persistence: RetainedSource }).persistence;
    for await (const p of persistence.createRetainedStream(filter)) {
      out.push({ topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: true });
    }
    return out;
  }

  /** Stops listening, closes every client and aedes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const server = this.#server;
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await serverClosed;
  }

  #report(kind: BrokerReportKind, message: string, clientId?: string): void {
    try {
      this.#opts.report?.(clientId === undefined ? { kind, message } : { kind, message, clientId });
    } catch {
      // A failing report sink must not take the broker down.
    }
  }

  #accept(socket: Socket): void {
    const max = this.#opts.connectionsMax ?? limits.brokerConnectionsMax;
    if (this.#closed || this.#sockets.size >= max) {
      this.#report("connection-refused", `at ${max} connections; refused ${socket.remoteAddress}`);
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const bytesMax = this.#opts.packetBytesMax ?? limits.brokerPacketBytesMax;
    const guard = new FrameGuard(socket, bytesMax, (fault) =>
      this.#report("packet-refused", `${fault} packet from ${socket.remoteAddress}; cut`),
    );
    const client = this.#aedes.handle(guard);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      // Authenticated but gone before CONNACK: aedes never reports it, so forget it here.
      if (!this.#opened.has(client)) this.#sessions.delete(client);
    });
  }

  #wire(): void {
    const a = this.#aedes;
    a.authenticate = (client, username, password, done) =>
      void this.#authenticate(client, username, password, done as AuthDone);
    a.authorizePublish = (client, packet, done) =>
      void this.#authorizePublish(client, packet, done);
    a.authorizeSubscribe = (client, sub, done) => {
      const refusal = this.#subscribeRefusal(client, sub.topic);
      if (refusal) this.#report("subscribe-refused", refusal, client.id);
      done(null, refusal ? null : sub);
    };
    a.on("clientReady", (client) => {
      const s = this.#sessions.get(client);
      this.#opened.add(client);
      if (s) this.#callback(() => this.#opts.onSessionOpen?.(s));
    });
    a.on("clientDisconnect", (client) => {
      const s = this.#sessions.get(client);
      this.#sessions.delete(client);
      if (s) this.#callback(() => this.#opts.onSessionClose?.(s));
    });
    a.on("clientError", (client, err) => this.#report("client-error", err.message, client.id));
    a.on("connectionError", (_c, err) => this.#report("client-error", err.message));
    (a as EventEmitter).on("error", (err: Error) =>
      this.#report("handler-error", `aedes: ${err.message}`),
    );
  }

  #callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#report("handler-error", `session callback threw: ${String(err)}`);
    }
  }

  async #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthDone,
  ): Promise<void> {
    const clientId = client.id;
    const conn = client.conn as Partial<FrameGuard>;
    const remoteAddress = conn.remoteAddress;
    const cert = conn.socket ? peerCert(conn.socket as Socket) : undefined;
    const info = {
      clientId,
      username,
      password,
      remoteAddress,
      ...(cert ? { peerCertificate: cert } : {}),
    };
    const verdict = await identify(info, this.#authorizer, this.#opts.meshSecret).catch(
      (err: unknown) => {
        this.#report("handler-error", `authenticate threw: ${String(err)}`, clientId);
        return { ok: false, returnCode: 5, reason: "authenticator failed" } as const;
      },
    );
    if (!verdict.ok) {
      const who = `${clientId.slice(0, 64)} from ${remoteAddress}`;
      this.#report("auth-refused", `refused ${who}: ${verdict.reason}`, clientId.slice(0, 64));
      return done(authError(verdict.returnCode, verdict.reason), null);
    }
    const { identity, mesh } = verdict;
    this.#sessions.set(client, { clientId, identity, mesh, remoteAddress });
    done(null, true);
  }

  #subscribeRefusal(client: Client, filter: string): string | undefined {
    const s = this.#sessions.get(client);
    if (!s) return `no session for ${client.id}`;
    if (s.mesh) return "mesh links only publish";
    const problem = topicFilterProblem(filter);
    if (problem) return `filter ${filter} ${problem}`;
    if (!this.#authorizer.maySubscribe(s.identity, s.clientId, filter)) {
      return `${s.identity.principal} may not subscribe to ${filter}`;
    }
    return undefined;
  }

  async #authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (err?: Error | null) => void,
  ): Promise<void> {
    const s = client ? this.#sessions.get(client) : undefined;
    const refusal = this.#publishRefusal(s, packet.topic);
    if (refusal) {
      this.#report("publish-refused", refusal, client?.id);
      return done(new Error(`broker: ${refusal}`));
    }
    const message = packet as unknown as Message;
    if (!Buffer.isBuffer(packet.payload)) message.payload = Buffer.from(packet.payload);
    const origin: PublishOrigin = !s
      ? { kind: "local" }
      : s.mesh
        ? { kind: "mesh", session: s }
        : { kind: "client", session: s };
    try {
      if (!(await this.#admit(message, origin))) sink(message);
      done(null);
    } catch (err) {
      this.#report("publish-refused", `gate refused: ${String(err)}`, client?.id);
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #publishRefusal(s: Session | undefined, topic: string): string | undefined {
    if (!s) return undefined;
    if (s.mesh && !this.#gate) return "mesh link before the mesh is attached";
    if (s.mesh) return topic.startsWith("$") ? `mesh link may not publish ${topic}` : undefined;
    const problem = topicNameProblem(topic);
    if (problem) return `topic ${topic} ${problem}`;
    if (!this.#authorizer.mayPublish(s.identity, s.clientId, topic)) {
      return `${s.identity.principal} may not publish to ${topic}`;
    }
    return undefined;
  }

  /** The retained-topic bound, then the gate, then retained bookkeeping. */
  async #admit(message: Message, origin: PublishOrigin): Promise<boolean> {
    // Checked before the gate: a gate may drop a retain flag but never adds one.
    this.#boundRetained(message);
    if (this.#gate && !(await this.#gate.admit(message, origin))) return false;
    if (message.retain && message.payload.length === 0) this.#retained.delete(message.topic);
    else if (message.retain) this.#retained.add(message.topic);
    return true;
  }

  #boundRetained(message: Message): void {
    const max = this.#opts.retainedTopicsMax ?? limits.brokerRetainedTopicsMax;
    if (!message.retain || this.#retained.has(message.topic) || this.#retained.size < max) return;
    this.#report("retained-full", `at ${max} retained topics; ${message.topic} not kept`);
    message.retain = false;
  }

  #deliverLocal(packet: AedesPublishPacket, handler: (m: Message) => void): void {
    try {
      handler({
        topic: packet.topic,
        payload: Buffer.from(packet.payload),
        qos: packet.qos,
        retain: packet.retain,
      });
    } catch (err) {
      this.#report("handler-error", `local subscriber threw on ${packet.topic}: ${String(err)}`);
    }
  }
}

interface RetainedSource {
  createRetainedStream(pattern: string): AsyncIterable<{
    topic: string;
    payload: Uint8Array;
    qos: 0 | 1 | 2;
  }>;
}

/** Sends a swallowed publish where no subscription can match ([MQTT-4.7.2-1], $fleet/ refused). */
function sink(message: Message): void {
  message.topic = SINK_TOPIC;
  message.retain = false;
  message.payload = Buffer.alloc(0);
}
