// A stand-in manager for join tests: aedes over node:tls presenting a manager certificate and
// the root (as the real broker does), the joining-session rules of the contract (username
// `fleet-join`, password = token, client id = request id, only its own req/resp topics) and a
// responder that answers join requests with core/crypto: proof, token, issueCertificate.
// It records every CONNECT it saw, so a test can tell whether a token ever reached it.

import type { AddressInfo } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { Aedes, type AedesPublishPacket } from "aedes";
import { decodeMessage, encodeMessage, type MessageBodies } from "../../core/codec/messages.ts";
import { filterCovered, grants, type Principal } from "../../core/crypto/acl.ts";
import { toHex } from "../../core/crypto/bytes.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { identityOf, issueCertificate, type RootCA } from "../../core/crypto/identity.ts";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { verifyJoinProof } from "../../core/crypto/proof.ts";
import { testBytes, testNodeCert } from "../../core/crypto/testing.ts";
import { matchJoinToken, parseJoinToken, tokenSecretHash } from "../../core/crypto/token.ts";
import { topics } from "../../core/topics.ts";

export interface JoinRequestSeen {
  requestId: string;
  body: MessageBodies["joinRequest"];
}

/** What the responder answers; undefined: stay silent. The default issues a certificate. */
export type Responder = (
  req: JoinRequestSeen,
  issue: () => MessageBodies["joinResponse"],
) => MessageBodies["joinResponse"] | undefined;

export interface StandInOptions {
  /** The cluster root whose key signs (and whose manager certificate the broker shows). */
  root: RootCA;
  /** The CA whose manager certificate the broker shows (default `root`): a man in the middle. */
  presented?: RootCA;
  /** The root certificate appended to the chain (default the presenting CA's). */
  presentedRootPem?: string;
  tokens: { worker: string; manager: string };
  respond?: Responder;
  /** Broker addresses put in answers. */
  brokers?: string[];
  /** Refuse joining sessions by hanging up without a CONNACK (as some brokers do). */
  hangUp?: boolean;
  /** Port to listen on (default: any free one). */
  port?: number;
}

export class StandInManager {
  readonly connects: { clientId: string; username?: string; password?: string }[] = [];
  readonly requests: JoinRequestSeen[] = [];
  readonly refused: string[] = [];
  /** Node ids that connected with a certificate of the cluster. */
  readonly nodes: string[] = [];
  #issued = 0;
  private constructor(
    readonly o: StandInOptions,
    readonly aedes: Aedes,
    readonly server: Server,
  ) {}

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(o: StandInOptions): Promise<StandInManager> {
    const shown = o.presented ?? o.root;
    const leaf = testNodeCert(shown, `manager-${toHex(testBytes(shown.digest, 4))}`, "manager", {
      nowMs: Date.now(),
    });
    const aedes = new Aedes();
    await aedes.listen();
    const server = createServer(
      {
        cert: leaf.certPem + (o.presentedRootPem ?? shown.certPem),
        key: privateKeyToPem(leaf.key),
        minVersion: "TLSv1.3",
        // Joined nodes come back with their certificate; joining sessions have none.
        ca: [o.root.certPem],
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket) => aedes.handle(socket),
    );
    server.on("tlsClientError", () => {}); // a pinning client hangs up: expected
    const m = new StandInManager(o, aedes, server);
    m.#wire();
    await new Promise<void>((r) => server.listen(o.port ?? 0, "127.0.0.1", r));
    return m;
  }

  #principals = new WeakMap<object, Principal>();

  #wire(): void {
    const clusterId = this.o.root.cert.subject.organization;
    const t = topics(clusterId);
    this.aedes.authenticate = (client, username, password, done) => {
      const pw = password?.toString();
      this.connects.push({ clientId: client.id, username, password: pw });
      const socket = client.conn as unknown as TLSSocket;
      if (socket.authorized) {
        const cert = parseCertificate(new Uint8Array(socket.getPeerCertificate().raw));
        const id = identityOf(cert, clusterId);
        this.#principals.set(client, { kind: "node", clusterId, nodeId: id.nodeId, role: id.role });
        this.nodes.push(id.nodeId);
        return done(null, true);
      }
      const ok =
        username === "fleet-join" && (pw === this.o.tokens.worker || pw === this.o.tokens.manager);
      if (!ok && this.o.hangUp) return socket.destroy();
      if (!ok) {
        const err = Object.assign(new Error("bad token"), { returnCode: 5 });
        return done(err as never, false);
      }
      this.#principals.set(client, { kind: "join", clusterId, requestId: client.id });
      done(null, true);
    };
    this.aedes.authorizePublish = (client, packet, done) =>
      done(client && !this.#grant(client, "publish", packet.topic) ? new Error("refused") : null);
    this.aedes.authorizeSubscribe = (client, sub, done) =>
      done(null, this.#grant(client, "subscribe", sub.topic) ? sub : null);
    const handle = (packet: AedesPublishPacket, cb: () => void) => {
      cb();
      const requestId = packet.topic.split("/")[3] as string;
      const d = decodeMessage(new Uint8Array(packet.payload as Buffer), "joinRequest");
      if (!d.ok) return;
      const { v: _, type: __, ...body } = d.message;
      const seen = { requestId, body };
      this.requests.push(seen);
      const issue = () => {
        const answer = answerJoin(this.o.root, this.o.tokens, seen, `node-${++this.#issued}`);
        return answer.ok && this.o.brokers ? { ...answer, brokers: this.o.brokers } : answer;
      };
      const answer = this.o.respond ? this.o.respond(seen, issue) : issue();
      if (!answer) return;
      this.aedes.publish(
        {
          cmd: "publish",
          topic: t.joinResponse(requestId),
          payload: Buffer.from(encodeMessage("joinResponse", answer)),
          qos: 1,
          retain: false,
          dup: false,
        },
        () => {},
      );
    };
    this.aedes.subscribe(t.joinRequestFilter, handle, () => {});
  }

  #grant(client: object, access: "publish" | "subscribe", topic: string): boolean {
    const p = this.#principals.get(client);
    const ok = !!p && grants(p)[access].some((g) => filterCovered(topic, g));
    if (!ok) this.refused.push(`${access} ${topic}`);
    return ok;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await new Promise<void>((r) => this.aedes.close(() => r()));
    await closed;
  }
}

/** What a CA answers a join request with (core/crypto only): a certificate or a refusal. */
export function answerJoin(
  root: RootCA,
  tokens: { worker: string; manager: string },
  req: JoinRequestSeen,
  nodeId: string,
): MessageBodies["joinResponse"] {
  const hashes = {
    worker: tokenSecretHash(parseJoinToken(tokens.worker).secret),
    manager: tokenSecretHash(parseJoinToken(tokens.manager).secret),
  };
  const clusterId = root.cert.subject.organization;
  try {
    const token = verifyJoinProof(req.body, req.requestId);
    const role = matchJoinToken(token, hashes, root.digest);
    const cert = issueCertificate({
      ca: root,
      clusterId,
      nodeId,
      role,
      publicKey: req.body.publicKey,
      serialRandom: testBytes(`join:${req.requestId}`, 16),
      nowMs: Date.now(),
      expiryMs: 24 * 60 * 60 * 1000,
    });
    return { ok: true, nodeId, certPem: cert.certPem, caPem: root.certPem, clusterId, role };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, error: (err as Error).message, ...(code ? { code } : {}) };
  }
}
