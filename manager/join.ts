// A manager joining a cluster by token (`--join TOKEN --join-addr HOST:PORT`): the request goes
// to a manager's broker. Secure mode uses the join client of edge-agent/join (TLS pinned by the
// token's CA digest, key generated here). With --insecure (loopback development) the same
// request goes over plain MQTT and the CA the answer names is pinned by the token's digest
// instead of the broker's TLS chain. The answer must give this manager a Raft id and the members.

import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import {
  decodeMessage,
  encodeMessage,
  type MessageBodies,
  type WireNodeDescription,
} from "../core/codec/messages.ts";
import { shape as s } from "../core/codec/shape.ts";
import { constantTimeEqual } from "../core/crypto/bytes.ts";
import { isSignedBy, parseCertificate } from "../core/crypto/cert-read.ts";
import { identityOf } from "../core/crypto/identity.ts";
import { generateKeyPair, keySeedBytes, privateKeyToPem } from "../core/crypto/keys.ts";
import { signJoinRequest } from "../core/crypto/proof.ts";
import { parseJoinToken, pinCA } from "../core/crypto/token.ts";
import { limits } from "../core/limits.ts";
import { topics } from "../core/topics.ts";
import { joinCluster } from "../edge-agent/join/client.ts";
import { JoinError } from "../edge-agent/join/errors.ts";
import type { CertFiles, Member } from "./identity.ts";

export interface ManagerJoinOptions {
  token: string;
  /** Brokers of the cluster, HOST:PORT, tried in order. */
  addrs: string[];
  insecure: boolean;
  /** What this manager advertises: Raft and broker addresses (HOST:PORT). */
  raftAddr: string;
  brokerAddr: string;
  description: WireNodeDescription;
  responseTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ManagerJoinResult {
  nodeId: string;
  clusterId: string;
  raftId: number;
  members: Member[];
  certs: CertFiles;
  brokers: string[];
}

const memberShape = s.object({
  raftId: s.int(1),
  host: s.string(253, 1),
  port: s.int(1, 65535),
});

export async function joinAsManager(o: ManagerJoinOptions): Promise<ManagerJoinResult> {
  const manager = { raftAddr: o.raftAddr, brokerAddr: o.brokerAddr };
  const r = o.insecure
    ? await joinPlain(o, manager)
    : await joinCluster({
        token: o.token,
        managers: o.addrs,
        description: o.description,
        expectRole: "manager",
        request: { manager },
        ...(o.responseTimeoutMs ? { responseTimeoutMs: o.responseTimeoutMs } : {}),
        ...(o.log ? { log: o.log } : {}),
      });
  if (r.role !== "manager")
    throw new JoinError("wrong-token", "this is a worker join token: use `edge-agent join`");
  if (r.raftId === undefined || !Array.isArray(r.members))
    throw new JoinError("bad-response", "the CA gave this manager no Raft id or members");
  const members: Member[] = [];
  for (const m of r.members) {
    const bad = memberShape(m, "member", 0);
    if (bad) throw new JoinError("bad-response", `bad member in the answer: ${bad}`);
    members.push(m as Member);
  }
  return {
    nodeId: r.nodeId,
    clusterId: r.clusterId,
    raftId: r.raftId,
    members,
    certs: { caPem: r.caPem, certPem: r.certPem, keyPem: r.keyPem },
    brokers: r.brokers,
  };
}

type Answer = Awaited<ReturnType<typeof joinCluster>>;

/** --insecure: the join request over plain MQTT to each address in turn. */
async function joinPlain(
  o: ManagerJoinOptions,
  manager: { raftAddr: string; brokerAddr: string },
): Promise<Answer> {
  let token: ReturnType<typeof parseJoinToken>;
  try {
    token = parseJoinToken(o.token);
  } catch (err) {
    throw new JoinError("bad-token", (err as Error).message);
  }
  let last: Error | undefined;
  for (let round = 0; round < limits.joinRoundsDefault; round++) {
    for (const addr of o.addrs) {
      try {
        return await plainAttempt(o, token.caDigest, addr, manager);
      } catch (err) {
        last = err as Error;
        o.log?.(`join: ${addr}: ${last.message}`);
        if (err instanceof JoinError && !err.retryable) throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 500 * 2 ** round));
  }
  throw new JoinError("unreachable", `no manager accepted the join; last: ${last?.message}`);
}

async function plainAttempt(
  o: ManagerJoinOptions,
  digest: string,
  addr: string,
  manager: { raftAddr: string; brokerAddr: string },
): Promise<Answer> {
  const key = generateKeyPair("ed25519", new Uint8Array(randomBytes(keySeedBytes("ed25519"))));
  const requestId = `join-${randomBytes(16).toString("hex")}`;
  const request = encodeMessage("joinRequest", {
    ...signJoinRequest(key, o.token, requestId),
    description: o.description,
    manager,
  });
  const answer = await exchangePlain(addr, o.token, requestId, request, o.responseTimeoutMs);
  if (!answer.ok) {
    const why = `the CA refused: ${answer.error ?? "no reason given"}`;
    const code = answer.code ?? "";
    if (["wrong-token", "bad-token", "ca-mismatch"].includes(code))
      throw new JoinError("wrong-token", why);
    throw new JoinError("refused", why, { retryable: answer.retry === true });
  }
  if (!answer.caPem || !answer.certPem || !answer.nodeId)
    throw new JoinError("bad-response", "answer lacks a certificate");
  const root = pinCA(answer.caPem, digest);
  const cert = parseCertificate(answer.certPem);
  if (cert.isCA || !isSignedBy(cert, root))
    throw new JoinError("bad-response", "the certificate is not signed by the pinned CA");
  const id = identityOf(cert, root.subject.organization);
  if (!constantTimeEqual(cert.publicKey, key.publicKey) || id.nodeId !== answer.nodeId)
    throw new JoinError("bad-response", "the certificate does not carry this node's key and id");
  return {
    nodeId: id.nodeId,
    role: id.role === "manager" ? "manager" : "worker",
    clusterId: id.clusterId,
    certPem: answer.certPem,
    caPem: answer.caPem,
    keyPem: privateKeyToPem(key),
    brokers: answer.brokers ?? [],
    ...(answer.raftId !== undefined ? { raftId: answer.raftId } : {}),
    ...(answer.members ? { members: answer.members } : {}),
  };
}

function exchangePlain(
  addr: string,
  token: string,
  requestId: string,
  request: Uint8Array,
  timeoutMs: number = limits.joinResponseTimeoutMsDefault,
): Promise<MessageBodies["joinResponse"]> {
  // Plain MQTT shows no certificate, so the joiner cannot learn the cluster id before the
  // answer: an insecure cluster's CA also listens on the cluster level INSECURE_CLUSTER_LEVEL.
  const t = topics(INSECURE_CLUSTER_LEVEL);
  const respTopic = t.joinResponse(requestId);
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(`mqtt://${addr}`, {
      clientId: requestId,
      username: "fleet-join",
      password: token,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      writeCache: false,
    });
    let done = false;
    const finish = (r: Error | MessageBodies["joinResponse"]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.end(true);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const timer = setTimeout(
      () => finish(new JoinError("timeout", `${addr}: no join response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.on("error", (err) => finish(new JoinError("unreachable", `${addr}: ${err.message}`)));
    client.on("close", () => finish(new JoinError("unreachable", `${addr}: connection closed`)));
    client.once("connect", () => {
      client.subscribe(respTopic, { qos: 1 }, (err) => {
        if (err) return finish(new JoinError("refused", `${addr}: ${err.message}`));
        client.publish(t.joinRequest(requestId), Buffer.from(request), { qos: 1 });
      });
    });
    client.on("message", (_topic, payload) => {
      const d = decodeMessage(new Uint8Array(payload), "joinResponse");
      if (!d.ok) return finish(new JoinError("bad-response", d.error.message));
      const { v: _, type: __, ...body } = d.message;
      finish(body);
    });
  });
}

/** The cluster level an insecure join request is sent on (the joiner knows no cluster id). */
export const INSECURE_CLUSTER_LEVEL = "insecure-join";
