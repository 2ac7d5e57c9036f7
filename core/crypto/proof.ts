// Proofs of possession. Joining: the node's new key signs a challenge binding the CA digest,
// the token secret, the join request id and the key itself, so a proof cannot be lifted to
// another cluster, token, request or key. Renewing: the current key (the one the certificate
// names) and the new key both sign a challenge binding the node, the current serial and the
// new key.

import { sha256 } from "@noble/hashes/sha2.js";
import { framed, fromHex, utf8 } from "./bytes.ts";
import { CryptoError } from "./errors.ts";
import { type KeyPair, publicKeyCurve, sign, verify } from "./keys.ts";
import { type JoinToken, parseJoinToken } from "./token.ts";

export function joinChallenge(
  token: JoinToken,
  requestId: string,
  publicKey: Uint8Array,
): Uint8Array {
  return sha256(
    framed(
      utf8("fleet/join/v1"),
      fromHex(token.caDigest),
      utf8(token.secret),
      utf8(requestId),
      publicKey,
    ),
  );
}

export interface JoinProof {
  token: string;
  publicKey: Uint8Array;
  proof: Uint8Array;
}

/** What a joining node puts in its join request (plus its description). */
export function signJoinRequest(key: KeyPair, token: string, requestId: string): JoinProof {
  const challenge = joinChallenge(parseJoinToken(token), requestId, key.publicKey);
  return { token, publicKey: key.publicKey, proof: sign(key, challenge) };
}

/** Checks the proof; returns the parsed token (its secret still to be matched). */
export function verifyJoinProof(req: JoinProof, requestId: string): JoinToken {
  const token = parseJoinToken(req.token);
  const curve = publicKeyCurve(req.publicKey);
  if (!verify(curve, req.publicKey, req.proof, joinChallenge(token, requestId, req.publicKey)))
    throw new CryptoError("bad-proof", "join request proof does not verify");
  return token;
}

export interface RenewalSubject {
  clusterId: string;
  nodeId: string;
  /** Serial of the certificate being renewed. */
  serial: string;
}

export function renewalChallenge(s: RenewalSubject, newPublicKey: Uint8Array): Uint8Array {
  return sha256(
    framed(
      utf8("fleet/renew/v1"),
      utf8(s.clusterId),
      utf8(s.nodeId),
      fromHex(s.serial),
      newPublicKey,
    ),
  );
}

export interface RenewalProof {
  publicKey: Uint8Array;
  /** Signed by the current (certified) key. */
  proof: Uint8Array;
  /** Signed by the new key. */
  keyProof: Uint8Array;
}

export function signRenewal(current: KeyPair, next: KeyPair, s: RenewalSubject): RenewalProof {
  const challenge = renewalChallenge(s, next.publicKey);
  return {
    publicKey: next.publicKey,
    proof: sign(current, challenge),
    keyProof: sign(next, challenge),
  };
}

/** Checks both signatures; `certified` is the public key in the certificate being renewed. */
export function verifyRenewalProof(
  req: RenewalProof,
  s: RenewalSubject,
  certified: Uint8Array,
): void {
  const challenge = renewalChallenge(s, req.publicKey);
  const newCurve = publicKeyCurve(req.publicKey);
  if (!verify(publicKeyCurve(certified), certified, req.proof, challenge))
    throw new CryptoError("bad-proof", `renewal of ${s.nodeId} not signed by its certified key`);
  if (!verify(newCurve, req.publicKey, req.keyProof, challenge))
    throw new CryptoError("bad-proof", `renewal of ${s.nodeId}: no proof of the new key`);
}
