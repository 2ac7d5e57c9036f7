// Joining a cluster with a token (DESIGN §7): the node makes its key pair here (the private key
// never leaves it), reaches a manager's broker over TLS trusted only through the CA digest in
// the token (pinned.ts), and only then opens a joining session (username `fleet-join`,
// password = token, client id = a fresh request id), sends `joinRequest` on
// `fleet/<cid>/join/<req>/req` and waits for `joinResponse` on `.../resp`. The cluster id of the
// topic is the O of the pinned root (the broker's leaf must name the same). The returned
// certificate must be signed by the pinned root, name that cluster and carry our key.
// Retries go along the manager list, then around it again after a jittered backoff.
// Free of agent state: the manager's `fleet join` uses it as well.

import { randomBytes as nodeRandomBytes } from "node:crypto";
import type { WireNodeDescription } from "../../core/codec/messages.ts";
import { encodeMessage, type MessageBodies } from "../../core/codec/messages.ts";
import { constantTimeEqual, toHex } from "../../core/crypto/bytes.ts";
import type { ParsedCertificate } from "../../core/crypto/cert.ts";
import { isSignedBy, parseCertificate } from "../../core/crypto/cert-read.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { caDigest, identityOf } from "../../core/crypto/identity.ts";
import {
  type Curve,
  generateKeyPair,
  type KeyPair,
  keySeedBytes,
  privateKeyToPem,
} from "../../core/crypto/keys.ts";
import { toPem } from "../../core/crypto/pem.ts";
import { signJoinRequest } from "../../core/crypto/proof.ts";
import { parseJoinToken } from "../../core/crypto/token.ts";
import { limits } from "../../core/limits.ts";
import { isTopicId } from "../../core/topics.ts";
import { backoffDelay } from "../session/backoff.ts";
import { JoinError } from "./errors.ts";
import { exchange } from "./exchange.ts";
import { connectPinned, type PinnedConnection } from "./pinned.ts";

export { JOIN_USERNAME } from "./exchange.ts";
export const DEFAULT_BROKER_PORT = 8883;

type RequestExtras = Omit<
  Partial<MessageBodies["joinRequest"]>,
  "token" | "publicKey" | "proof" | "description"
>;

export interface JoinOptions {
  token: string;
  /** Manager brokers: `host:port`, `host` (8883) or `mqtts://host:port`; tried in order. */
  managers: string[];
  description: WireNodeDescription;
  /** The role the caller expects the token to grant; another is refused (nothing kept). */
  expectRole?: "worker" | "manager";
  /** Key curve; default the pinned root's (a P-256 cluster serves boards without Ed25519). */
  curve?: Curve;
  /** Extra (optional) joinRequest fields, e.g. a manager's advertised addresses. */
  request?: RequestExtras;
  /** TLS handshake and CONNACK, per manager. */
  connectTimeoutMs?: number;
  /** The CA's answer, per manager. */
  responseTimeoutMs?: number;
  /** Rounds over the manager list before giving up. */
  rounds?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  randomBytes?: (n: number) => Uint8Array;
  random?: () => number;
  log?: (line: string) => void;
}

export interface JoinResult {
  nodeId: string;
  role: "worker" | "manager";
  clusterId: string;
  certPem: string;
  /** The pinned root certificate. */
  caPem: string;
  /** PKCS#8 PEM of the key generated for this join. */
  keyPem: string;
  /** mqtts:// URLs: the manager that answered first, the other given ones, then the CA's (or
   * the CA's alone when it marks them as the whole list: an external broker). */
  brokers: string[];
  raftId?: number;
  members?: unknown[];
}

export interface ManagerAddress {
  host: string;
  port: number;
}

/** `host`, `host:port`, `[v6]:port` or `mqtts://host:port`. */
export function parseManager(s: string): ManagerAddress {
  const m = /^(?:mqtts:\/\/)?(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+)(?::(\d{1,5}))?\/?$/.exec(s.trim());
  const port = m?.[2] === undefined ? DEFAULT_BROKER_PORT : Number(m[2]);
  if (!m || port < 1 || port > 65_535)
    throw new JoinError("bad-input", `manager ${JSON.stringify(s)}: expected HOST[:PORT]`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}

export function brokerUrl(a: ManagerAddress): string {
  return `mqtts://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Joins through the first manager that answers; throws a JoinError saying why not. */
export async function joinCluster(o: JoinOptions): Promise<JoinResult> {
  let token: ReturnType<typeof parseJoinToken>;
  try {
    token = parseJoinToken(o.token);
  } catch (err) {
    throw new JoinError("bad-token", (err as Error).message, { cause: err });
  }
  if (o.managers.length === 0) throw new JoinError("bad-input", "no manager address given");
  const managers = o.managers.map(parseManager);
  const random = o.random ?? Math.random;
  const rounds = Math.max(1, o.rounds ?? limits.joinRoundsDefault);
  const failures: JoinError[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round > 0) {
      const b = { baseMs: o.backoffBaseMs ?? 500, maxMs: o.backoffMaxMs ?? 10_000 };
      await new Promise((r) => setTimeout(r, backoffDelay(round - 1, b, random)));
    }
    let again = false;
    for (const [i, m] of managers.entries()) {
      try {
        const r = await attempt(o, token.caDigest, m);
        const given = [m, ...managers.filter((_, j) => j !== i)].map(brokerUrl);
        const { brokersOnly, ...rest } = r;
        // An external broker's CA names its certificate listener as the whole list: the
        // address joined through is then a join-only listener, useless to a joined node.
        const only = brokersOnly ? mergeBrokers([], r.brokers) : [];
        return { ...rest, brokers: only.length > 0 ? only : mergeBrokers(given, r.brokers) };
      } catch (err) {
        const e = asJoinError(err);
        o.log?.(`join: ${brokerUrl(m)}: ${e.message}`);
        failures.push(e);
        // A broker with another CA may be an impostor on one address: try the others.
        if (!e.retryable && e.code !== "ca-mismatch") throw e;
        again ||= e.retryable;
      }
    }
    if (!again) break;
  }
  throw finalError(failures);
}

function finalError(failures: JoinError[]): JoinError {
  const n = failures.length;
  // A broker that refuses a joining session should answer CONNACK 5, but one that just hangs
  // up after CONNECT, every time on every manager, is refusing the token all the same.
  if (n > 0 && failures.every((f) => f.code === "session-closed"))
    return new JoinError(
      "wrong-token",
      `every manager closed the joining session without an answer (${n} attempt${n === 1 ? "" : "s"}): the join token was most likely refused (rotated or mistyped?)`,
      { cause: failures.at(-1), retryable: false },
    );
  const worst = failures.find((f) => f.code === "ca-mismatch") ?? failures.at(-1);
  return new JoinError(
    worst?.code ?? "unreachable",
    `no manager accepted the join after ${n} attempt${n === 1 ? "" : "s"}; last: ${worst?.message}`,
    { cause: worst, retryable: false },
  );
}

function asJoinError(err: unknown): JoinError {
  if (err instanceof JoinError) return err;
  if (err instanceof CryptoError) return new JoinError("bad-response", err.message, { cause: err });
  return new JoinError("unreachable", err instanceof Error ? err.message : String(err));
}

function mergeBrokers(given: string[], fromCa: string[] | undefined): string[] {
  const out = [...given];
  for (const b of fromCa ?? []) {
    try {
      const url = brokerUrl(parseManager(b));
      if (!out.includes(url)) out.push(url);
    } catch {
      // A malformed address from the CA is skipped; the given ones still work.
    }
  }
  return out;
}

type Answer = Omit<JoinResult, "brokers"> & { brokers?: string[]; brokersOnly?: boolean };

async function attempt(o: JoinOptions, digest: string, m: ManagerAddress): Promise<Answer> {
  const connectMs = o.connectTimeoutMs ?? limits.agentConnectTimeoutMs;
  const pinned = await connectPinned(m.host, m.port, digest, connectMs);
  const randomBytes = o.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
  // A fresh key and request per attempt: a lost answer must not make the retry a "replay".
  const curve = o.curve ?? pinned.root.curve;
  const key = generateKeyPair(curve, randomBytes(keySeedBytes(curve)));
  const requestId = `join-${toHex(randomBytes(16))}`;
  const proof = signJoinRequest(key, o.token, requestId);
  const request = encodeMessage("joinRequest", {
    ...o.request,
    ...proof,
    description: o.description,
  });
  const resp = await exchange(pinned, requestId, request, {
    token: o.token,
    connectMs,
    responseMs: o.responseTimeoutMs ?? limits.joinResponseTimeoutMsDefault,
    answer: "join response",
  });
  return checkAnswer(resp, pinned, key, o.expectRole);
}

function checkAnswer(
  r: MessageBodies["joinResponse"],
  pinned: PinnedConnection,
  key: KeyPair,
  expectRole: "worker" | "manager" | undefined,
): Answer {
  if (!r.ok) {
    const why = `the CA refused: ${r.error ?? "no reason given"}`;
    if (r.code === "wrong-token" || r.code === "bad-token" || r.code === "ca-mismatch")
      throw new JoinError("wrong-token", why);
    throw new JoinError("refused", why, { retryable: r.retry === true });
  }
  if (!r.certPem || !r.nodeId) throw new JoinError("bad-response", "answer lacks a certificate");
  const cert = parseCertificate(r.certPem);
  const id = checkCertificate(cert, pinned);
  if (!constantTimeEqual(cert.publicKey, key.publicKey))
    throw new JoinError("bad-response", "the certificate does not carry this node's key");
  if (id.nodeId !== r.nodeId || (r.clusterId !== undefined && r.clusterId !== id.clusterId))
    throw new JoinError("bad-response", "the answer and its certificate disagree");
  if (r.caPem !== undefined && caDigest(r.caPem) !== caDigest(pinned.root.der))
    throw new JoinError("bad-response", "the answer's CA is not the pinned one");
  if (id.role === "admin" || (r.role !== undefined && r.role !== id.role))
    throw new JoinError("bad-response", `unexpected role ${id.role}`);
  if (expectRole !== undefined && id.role !== expectRole)
    throw new JoinError("wrong-token", `this is a ${id.role} join token; ${expectRole} expected`);
  const out: Answer = {
    nodeId: id.nodeId,
    role: id.role,
    clusterId: id.clusterId,
    certPem: toPem("CERTIFICATE", cert.der),
    caPem: toPem("CERTIFICATE", pinned.root.der),
    keyPem: privateKeyToPem(key),
  };
  if (r.brokers) out.brokers = r.brokers;
  if (r.brokersOnly) out.brokersOnly = true;
  if (r.raftId !== undefined) out.raftId = r.raftId;
  if (r.members !== undefined) out.members = r.members;
  return out;
}

function checkCertificate(cert: ParsedCertificate, pinned: PinnedConnection) {
  if (cert.isCA || !isSignedBy(cert, pinned.root))
    throw new JoinError("bad-response", "the certificate is not signed by the pinned CA");
  const id = identityOf(cert, pinned.clusterId);
  if (!isTopicId(id.nodeId)) throw new JoinError("bad-response", "certificate names no node");
  return id;
}
