// Re-enrolment over a join listener (DESIGN §7): what a node whose certificate expired within
// the re-enrolment window does when its brokers refuse that certificate in the handshake (an
// external mosquitto). It dials the join listener (anonymous TLS; the broker is trusted only if
// its chain leads to the root the node already holds, pinned by digest as at join), sends its
// renewal csr (old certificate, new key, proofs by both keys) on `join/<req>/req` with no token,
// and returns the certificate the leader's JoinService answers on `join/<req>/resp`. The caller
// (edge-agent/renewal.ts) checks it like any renewal answer before installing it.

import { createHash, randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { decodeMessage } from "../../core/codec/index.ts";
import { fromPem } from "../../core/crypto/pem.ts";
import { limits } from "../../core/limits.ts";
import { topics } from "../../core/topics.ts";
import { JoinError } from "./errors.ts";
import { connectPinned } from "./pinned.ts";

export interface JoinReenrolOptions {
  /** mqtts://host:port of a join listener. */
  url: string;
  /** The cluster root the node holds (its ca.pem). */
  caPem: string;
  /** The encoded `csr` message (edge-agent/renewal.ts builds it). */
  csr: Uint8Array;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

/** The new certificate (PEM), or a JoinError (refused, timeout, unreachable, ca-mismatch). */
export async function reenrolOverJoin(o: JoinReenrolOptions): Promise<string> {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new JoinError("bad-input", `${o.url}: not a URL`);
  }
  const port = Number(u.port || 8883);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const connectMs = o.connectTimeoutMs ?? limits.agentConnectTimeoutMs;
  const responseMs = o.responseTimeoutMs ?? limits.joinResponseTimeoutMsDefault;
  const pinned = await connectPinned(host, port, caDigestOf(o.caPem), connectMs);
  const requestId = `reenrol-${randomBytes(16).toString("hex")}`;
  const t = topics(pinned.clusterId);
  const respTopic = t.joinResponse(requestId);
  const options: IClientOptions = {
    clientId: requestId,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: connectMs,
    keepalive: 30,
    writeCache: false,
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer = setTimeout(() => finish(timeout("CONNACK", connectMs)), connectMs);
    const client: MqttClient = new mqtt.MqttClient(() => pinned.socket, options);
    const finish = (r: Error | string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      pinned.socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    client.on("error", (err) => {
      const rc = (err as { code?: unknown }).code;
      if (typeof rc === "number") finish(new JoinError("refused", `${o.url}: ${err.message}`));
      else finish(new JoinError("unreachable", `${o.url}: ${err.message}`, { cause: err }));
    });
    client.on("close", () => finish(new JoinError("unreachable", `${o.url}: connection closed`)));
    client.once("connect", () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(timeout("re-enrolment answer", responseMs)), responseMs);
      client.subscribe(respTopic, { qos: 1 }, (err, granted) => {
        if (err || granted?.[0]?.qos === 128)
          return finish(new JoinError("refused", `${o.url}: the join response topic was refused`));
        client.publish(t.joinRequest(requestId), Buffer.from(o.csr), { qos: 1 });
      });
    });
    client.on("message", (topic, payload) => {
      if (topic !== respTopic) return;
      const d = decodeMessage(new Uint8Array(payload), "joinResponse");
      if (!d.ok) return finish(new JoinError("bad-response", d.error.message));
      const r = d.message;
      if (!r.ok || !r.certPem) {
        const why = `the CA refused the re-enrolment: ${r.error ?? "no reason given"}`;
        return finish(new JoinError("refused", r.code ? `${why} [${r.code}]` : why));
      }
      finish(r.certPem);
    });
  });
}

function timeout(what: string, ms: number): JoinError {
  return new JoinError("timeout", `no ${what} within ${ms} ms`);
}

/** core/crypto/identity.ts's caDigest on node:crypto: the running agent does not load the
 * X.509 libraries identity.ts brings (crypto-child.ts). */
function caDigestOf(caPem: string): string {
  return createHash("sha256").update(fromPem(caPem, "CERTIFICATE")).digest("hex");
}
