// Join tokens `FLT1-<CA digest>-<secret>` (DESIGN §7, swarm's SWMTKN-1 in spirit). The digest
// lets a joining node pin the root CA before trusting anything; the secret says which role the
// node may join as. The cluster stores only a hash of each secret; rotation replaces it.

import { sha256 } from "@noble/hashes/sha2.js";
import { limits } from "../limits.ts";
import { constantTimeEqual, fromHex, toHex, utf8 } from "./bytes.ts";
import type { ParsedCertificate } from "./cert.ts";
import { isSignedBy, parseCertificate } from "./cert-read.ts";
import { CryptoError } from "./errors.ts";
import { caDigest } from "./identity.ts";

export const TOKEN_PREFIX = "FLT1";
export type JoinRole = "worker" | "manager";

export interface JoinToken {
  /** Hex SHA-256 of the root CA certificate's DER. */
  caDigest: string;
  /** Hex of limits.joinTokenSecretBytes random bytes. */
  secret: string;
}

const TOKEN_RE = /^FLT1-([0-9a-f]{64})-([0-9a-f]+)$/;

export function formatJoinToken(digest: string, secretRandom: Uint8Array): string {
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new CryptoError("bad-input", "CA digest must be hex");
  if (secretRandom.length !== limits.joinTokenSecretBytes)
    throw new CryptoError("bad-input", `token secret must be ${limits.joinTokenSecretBytes} bytes`);
  return `${TOKEN_PREFIX}-${digest}-${toHex(secretRandom)}`;
}

export function parseJoinToken(token: string): JoinToken {
  const m = typeof token === "string" && token.length <= 256 ? TOKEN_RE.exec(token.trim()) : null;
  if (!m || (m[2] as string).length !== limits.joinTokenSecretBytes * 2)
    throw new CryptoError(
      "bad-token",
      "join token must look like FLT1-<64 hex digits>-<32 hex digits> (see `fleet join-token`)",
    );
  return { caDigest: m[1] as string, secret: m[2] as string };
}

/** What the cluster stores for a token: SHA-256 over a domain tag and the secret. */
export function tokenSecretHash(secret: string): string {
  return toHex(sha256(utf8(`fleet/join-token/v1:${secret}`)));
}

/**
 * The role a presented token grants, comparing in constant time against both stored hashes
 * (both are always compared, so timing does not tell which role a guess came close to).
 */
export function matchJoinToken(
  token: JoinToken,
  hashes: { worker: string; manager: string },
  clusterCaDigest: string,
): JoinRole {
  if (!constantTimeEqual(utf8(token.caDigest), utf8(clusterCaDigest)))
    throw new CryptoError("ca-mismatch", "join token was made for another cluster's CA");
  const h = fromHex(tokenSecretHash(token.secret));
  const worker = constantTimeEqual(h, fromHex(hashes.worker));
  const manager = constantTimeEqual(h, fromHex(hashes.manager));
  if (manager) return "manager";
  if (worker) return "worker";
  throw new CryptoError("wrong-token", "join token is not valid (rotated or mistyped?)");
}

/**
 * A joining node's first check: the CA certificate it was shown must hash to the digest in its
 * token. Returns the parsed CA only when it matches; trust nothing signed by it before.
 */
export function pinCA(presentedCa: string | Uint8Array, pinnedDigest: string): ParsedCertificate {
  const ca = parseCertificate(presentedCa);
  if (!ca.isCA || !constantTimeEqual(utf8(caDigest(ca.der)), utf8(pinnedDigest)))
    throw new CryptoError("ca-mismatch", "the presented CA does not match the join token's digest");
  return ca;
}

/**
 * The joining node's check of a broker it reached without trusting anything yet (TLS with
 * verification off): `chain` is what the server presented, leaf first. The chain must contain
 * the root pinned by the token, and the leaf must be a manager certificate signed by it.
 * Returns the pinned root; only then may the node send its join request (and the secret).
 */
export function verifyPinnedChain(
  chain: readonly (string | Uint8Array)[],
  pinnedDigest: string,
): ParsedCertificate {
  const [leafInput, ...rest] = chain;
  if (leafInput === undefined)
    throw new CryptoError("ca-mismatch", "the broker sent no certificate");
  const root = rest.find((c) => {
    try {
      pinCA(c, pinnedDigest);
      return true;
    } catch {
      return false;
    }
  });
  if (root === undefined)
    throw new CryptoError(
      "ca-mismatch",
      "the broker's chain lacks the CA pinned by the join token",
    );
  const ca = pinCA(root, pinnedDigest);
  const leaf = parseCertificate(leafInput);
  if (leaf.isCA || !isSignedBy(leaf, ca) || leaf.subject.organizationalUnit !== "manager")
    throw new CryptoError("ca-mismatch", "the broker is not a manager of the pinned cluster");
  return ca;
}
