// Re-enrolment over a join listener (DESIGN §7): what a node whose certificate expired within
// the re-enrolment window does when its brokers refuse that certificate in the handshake (an
// external mosquitto). It dials the join listener (anonymous TLS; the broker is trusted only if
// its chain leads to the root the node already holds, pinned by digest as at join), sends its
// renewal csr (old certificate, new key, proofs by both keys) on `join/<req>/req` with no token,
// and returns the certificate the leader's JoinService answers on `join/<req>/resp`. The caller
// (edge-agent/renewal.ts) checks it like any renewal answer before installing it.

import { createHash, randomBytes } from "node:crypto";
import { fromPem } from "../../core/crypto/pem.ts";
import { limits } from "../../core/limits.ts";
import { JoinError } from "./errors.ts";
import { exchange } from "./exchange.ts";
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
  const r = await exchange(pinned, requestId, o.csr, {
    connectMs,
    responseMs,
    label: `${o.url}: `,
    answer: "re-enrolment answer",
  });
  if (!r.ok || !r.certPem) {
    const why = `the CA refused the re-enrolment: ${r.error ?? "no reason given"}`;
    throw new JoinError("refused", r.code ? `${why} [${r.code}]` : why);
  }
  return r.certPem;
}

/** core/crypto/identity.ts's caDigest on node:crypto: the running agent does not load the
 * X.509 libraries identity.ts brings (crypto-child.ts). */
function caDigestOf(caPem: string): string {
  return createHash("sha256").update(fromPem(caPem, "CERTIFICATE")).digest("hex");
}
