// A TLS connection to a manager's broker that is trusted only by the CA digest in a join token.
// The node has no trust anchor yet, so OpenSSL's verification is off for the handshake; the
// chain the broker presented is then checked in JS against the pinned digest (the root must
// hash to it, the leaf must be a manager certificate signed by that root, and the handshake's
// signature (TLS 1.3 CertificateVerify) proved the broker holds the leaf's key). Only a socket
// that passed is handed on: nothing (least of all the token) is written to it before.

import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import type { ParsedCertificate } from "../../core/crypto/cert.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { MANAGER_SERVER_NAME } from "../../core/crypto/identity.ts";
import { verifyPinnedChain } from "../../core/crypto/token.ts";
import { isTopicId } from "../../core/topics.ts";
import { JoinError } from "./errors.ts";

export interface PinnedConnection {
  socket: TLSSocket;
  /** The cluster root, whose DER hashes to the token's digest. */
  root: ParsedCertificate;
  /** The cluster id the pinned root names (its O), which the broker's leaf names too. */
  clusterId: string;
}

/** The certificates the broker presented, leaf first, as DER (bounded walk). */
export function presentedChain(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
  for (let i = 0; i < 8 && c?.raw; i++) {
    out.push(new Uint8Array(c.raw));
    const next: PeerCertificate | undefined = (c as { issuerCertificate?: PeerCertificate })
      .issuerCertificate;
    if (!next || next === c || next.raw?.equals(c.raw)) break;
    c = next;
  }
  return out;
}

/** Checks a presented chain against the pinned digest; returns the root and cluster id. */
export function checkChain(chain: Uint8Array[], digest: string): Omit<PinnedConnection, "socket"> {
  const root = verifyPinnedChain(chain, digest);
  const leaf = parseCertificate(chain[0] as Uint8Array);
  const clusterId = root.subject.organization;
  if (!isTopicId(clusterId) || leaf.subject.organization !== clusterId)
    throw new CryptoError("ca-mismatch", "the broker's certificate names another cluster");
  return { root, clusterId };
}

export function connectPinned(
  host: string,
  port: number,
  digest: string,
  timeoutMs: number,
): Promise<PinnedConnection> {
  const where = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: MANAGER_SERVER_NAME,
      // Verified below against the pinned digest, before anything is written.
      rejectUnauthorized: false,
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new JoinError("timeout", `${where}: no TLS handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );
    // Stays attached: a later error only destroys the socket (the promise is settled by then).
    socket.on("error", (err) =>
      fail(new JoinError("unreachable", `${where}: ${err.message}`, { cause: err })),
    );
    socket.once("secureConnect", () => {
      try {
        const pinned = checkChain(presentedChain(socket), digest);
        clearTimeout(timer);
        resolve({ socket, ...pinned });
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        fail(new JoinError("ca-mismatch", `${where}: ${why}`, { cause: err }));
      }
    });
  });
}
