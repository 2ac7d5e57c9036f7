// node:tls options for fleet's mutual TLS, and the check a server runs on every accepted
// connection: chain and validity are OpenSSL's (rejectUnauthorized), then the CA's revocation
// list and fleet's identity rules (CN/OU/O) are ours. TLS 1.3 only: Ed25519 certificates need
// it in Node, and it is what every supported board's runtime speaks.

import type { ConnectionOptions, TLSSocket, TlsOptions } from "node:tls";
import { CryptoError } from "../../core/crypto/errors.ts";
import { type Identity, MANAGER_SERVER_NAME } from "../../core/crypto/identity.ts";

export interface TlsMaterial {
  /** The cluster's root certificate (trust anchor). */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function mtlsServerOptions(m: TlsMaterial): TlsOptions {
  return {
    ca: [m.caPem],
    cert: m.certPem,
    key: m.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  };
}

/** Clients verify the manager by its SAN `fleet-manager` and the cluster root only. */
export function mtlsClientOptions(
  m: TlsMaterial,
  servername = MANAGER_SERVER_NAME,
): ConnectionOptions {
  return {
    ca: [m.caPem],
    cert: m.certPem,
    key: m.keyPem,
    servername,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  };
}

/**
 * The identity of an accepted peer, or a CryptoError: the caller destroys the socket. `verify`
 * is CertificateAuthority#verifyPeer (or the same check over a replicated revocation list).
 */
export function peerIdentity(
  socket: TLSSocket,
  verify: (certDer: Uint8Array) => Identity,
): Identity {
  if (!socket.authorized)
    throw new CryptoError("unknown-issuer", `peer not authorized: ${socket.authorizationError}`);
  const peer = socket.getPeerCertificate(false);
  if (!peer?.raw) throw new CryptoError("bad-certificate", "peer presented no certificate");
  return verify(new Uint8Array(peer.raw));
}
