// Re-enrolment at the broker (DESIGN §7): a node that was offline past its certificate's expiry
// comes back with that certificate. OpenSSL refuses it as expired (CERT_HAS_EXPIRED; the
// broker's listener asks for certificates without requiring them, so the handshake completes
// and the refusal reaches the authorizer). This check admits it for re-enrolment only when the
// certificate chains to the cluster root (checked again here, in JavaScript: an expired
// certificate is rare, so the signature check costs nothing that matters), names a node of this
// cluster, is not revoked, its node was not removed, and it expired less than the re-enrolment
// window ago. Such a session may only publish `n/<id>/csr` and subscribe `n/<id>/cert`
// (core/crypto/acl.ts, principal kind "reenrol"): the leader's RenewalService answers with a new
// certificate and the node reconnects with it. Holding the old key was proven in the handshake
// and is proven again by the csr's signature.

import type { ParsedCertificate } from "../../core/crypto/cert.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { verifyIdentity } from "../../core/crypto/identity.ts";
import { limits } from "../../core/limits.ts";
import type { PeerCert } from "../tls-server.ts";
import type { CertIdentity } from "./cert-authorizer.ts";

export interface ReenrolDeps {
  /** The cluster root certificate (PEM) as the broker holds it now. */
  rootPem: () => string;
  /** The re-enrolment window (ms after notAfter); limits.reenrolWindowMsDefault when absent. */
  windowMs?: () => number;
  isRevoked(serialHex: string): boolean;
  isNodeRemoved?(nodeId: string): boolean;
  now?: () => number;
}

/** A re-enrolling session's identity; `windowEndMs` is when its certificate stops admitting it. */
export interface ReenrolIdentity extends CertIdentity {
  windowEndMs: number;
}

/** OpenSSL reasons that still allow re-enrolment (none: our own clock found it expired). */
const EXPIRED_ONLY = new Set([undefined, "CERT_HAS_EXPIRED"]);

/**
 * The check for a certificate the strict check (manager/secure.ts peerVerifier) refused as
 * expired. Returns the identity when re-enrolment is allowed; throws a CryptoError saying why
 * not (another CA, not yet valid, past the window, revoked, removed, an operator certificate).
 */
export function reenrolVerifier(d: ReenrolDeps): (p: PeerCert) => ReenrolIdentity {
  let root: { pem: string; cert: ParsedCertificate } | undefined;
  const rootCert = () => {
    const pem = d.rootPem();
    if (root?.pem !== pem) root = { pem, cert: parseCertificate(pem) };
    return root.cert;
  };
  return (p) => {
    if (!p.verified && !EXPIRED_ONLY.has(p.verifyError))
      throw new CryptoError(
        "unknown-issuer",
        `certificate not verified (${p.verifyError ?? "no reason"})`,
      );
    const now = (d.now ?? Date.now)();
    const windowMs = d.windowMs?.() ?? limits.reenrolWindowMsDefault;
    let id: ReturnType<typeof verifyIdentity>;
    try {
      id = verifyIdentity(p.der, rootCert(), {
        nowMs: now,
        expiredGraceMs: windowMs,
        isRevoked: (serial) => d.isRevoked(serial),
      });
    } catch (err) {
      if (!(err instanceof CryptoError) || err.code !== "expired") throw err;
      const ago = Math.round((now - p.notAfterMs) / 1000);
      throw new CryptoError(
        "expired",
        `certificate of ${p.commonName ?? "?"} expired ${ago} s ago, past the re-enrolment ` +
          `window of ${Math.round(windowMs / 1000)} s: the node must join again with a token`,
      );
    }
    if (!(now > id.notAfterMs))
      throw new CryptoError("bad-input", `certificate of ${id.nodeId} has not expired`);
    if (id.role === "admin")
      throw new CryptoError(
        "expired",
        `operator certificate of ${id.nodeId} has expired (issue a new one: fleet ca issue-admin)`,
      );
    if (d.isNodeRemoved?.(id.nodeId))
      throw new CryptoError("removed", `node ${id.nodeId} was removed from the cluster`);
    return {
      nodeId: id.nodeId,
      role: id.role,
      clusterId: id.clusterId,
      serial: id.serial,
      notAfterMs: id.notAfterMs,
      windowEndMs: id.notAfterMs + windowMs,
    };
  };
}
