// Key pairs for node and CA identities: Ed25519 (default) and P-256 (for TLS stacks without
// Ed25519), from @noble/curves. Seeds come from the caller (core never draws randomness).
// Keys and certificates are rare operations; never sign per message with these.

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { ECParameters, ECPrivateKey, id_ecPublicKey, id_secp256r1 } from "@peculiar/asn1-ecc";
import { PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { constantTimeEqual, toArrayBuffer } from "./bytes.ts";
import { CryptoError, guard } from "./errors.ts";
import { fromPem, toPem } from "./pem.ts";

export type Curve = "ed25519" | "p256";
export const curves: readonly Curve[] = ["ed25519", "p256"];

export const OID_ED25519 = "1.3.101.112";
export const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/** publicKey: Ed25519 32 bytes; P-256 uncompressed SEC1 point, 65 bytes. */
export interface KeyPair {
  curve: Curve;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Random bytes `generateKeyPair` needs for a curve (P-256 reduces 48 bytes modulo n). */
export function keySeedBytes(curve: Curve): number {
  return curve === "ed25519" ? 32 : 48;
}

export function generateKeyPair(curve: Curve, seed: Uint8Array): KeyPair {
  if (seed.length !== keySeedBytes(curve))
    throw new CryptoError("bad-input", `${curve} key seed must be ${keySeedBytes(curve)} bytes`);
  if (curve === "ed25519") {
    const { secretKey, publicKey } = ed25519.keygen(seed);
    return { curve, secretKey, publicKey };
  }
  const secretKey = p256.utils.randomSecretKey(seed);
  return { curve, secretKey, publicKey: p256.getPublicKey(secretKey, false) };
}

/** The curve of a raw public key, by its length; refuses anything that is not a valid point. */
export function publicKeyCurve(publicKey: Uint8Array): Curve {
  const curve: Curve | undefined =
    publicKey.length === 32 ? "ed25519" : publicKey.length === 65 ? "p256" : undefined;
  if (curve === undefined) throw new CryptoError("bad-key", "public key must be 32 or 65 bytes");
  guard("bad-key", `invalid ${curve} public key`, () => {
    if (curve === "ed25519") ed25519.Point.fromBytes(publicKey);
    else p256.Point.fromBytes(publicKey);
  });
  return curve;
}

/** Signs as X.509 wants it: Ed25519 raw 64 bytes, P-256 ECDSA-SHA256 DER. */
export function sign(key: KeyPair, message: Uint8Array): Uint8Array {
  if (key.curve === "ed25519") return ed25519.sign(message, key.secretKey);
  return p256.sign(message, key.secretKey, { format: "der" });
}

/** Never throws: a malformed key or signature simply does not verify. */
export function verify(
  curve: Curve,
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): boolean {
  try {
    if (curve === "ed25519") return ed25519.verify(signature, message, publicKey);
    return p256.verify(signature, message, publicKey, { format: "der", lowS: false });
  } catch {
    return false;
  }
}

/** DER of the namedCurve parameter `prime256v1`. */
const P256_PARAMS = new Uint8Array(
  AsnConvert.serialize(new ECParameters({ namedCurve: id_secp256r1 })),
);

function publicKeyAlgorithm(curve: Curve): AlgorithmIdentifier {
  if (curve === "ed25519") return new AlgorithmIdentifier({ algorithm: OID_ED25519 });
  const parameters = toArrayBuffer(P256_PARAMS);
  return new AlgorithmIdentifier({ algorithm: id_ecPublicKey, parameters });
}

export function toSpki(curve: Curve, publicKey: Uint8Array): SubjectPublicKeyInfo {
  return new SubjectPublicKeyInfo({
    algorithm: publicKeyAlgorithm(curve),
    subjectPublicKey: toArrayBuffer(publicKey),
  });
}

/** The curve and raw key of a SubjectPublicKeyInfo; refuses other algorithms. */
export function fromSpki(spki: SubjectPublicKeyInfo): { curve: Curve; publicKey: Uint8Array } {
  const publicKey = new Uint8Array(spki.subjectPublicKey);
  const alg = spki.algorithm;
  if (alg.algorithm === OID_ED25519 && publicKey.length === 32)
    return { curve: publicKeyCurve(publicKey), publicKey };
  const params = alg.parameters ? new Uint8Array(alg.parameters) : new Uint8Array(0);
  if (alg.algorithm === id_ecPublicKey && constantTimeEqual(params, P256_PARAMS))
    if (publicKey.length === 65) return { curve: publicKeyCurve(publicKey), publicKey };
  throw new CryptoError("bad-key", `unsupported public key algorithm ${alg.algorithm}`);
}

/** PKCS#8 PEM of a key pair, as node:tls, OpenSSL and mosquitto read it. */
export function privateKeyToPem(key: KeyPair): string {
  let inner: ArrayBuffer;
  if (key.curve === "ed25519") {
    inner = AsnConvert.serialize(new OctetString(key.secretKey));
  } else {
    const ec = new ECPrivateKey({
      version: 1,
      privateKey: new OctetString(key.secretKey),
      publicKey: toArrayBuffer(key.publicKey),
    });
    inner = AsnConvert.serialize(ec);
  }
  const info = new PrivateKeyInfo({
    version: 0,
    privateKeyAlgorithm: publicKeyAlgorithm(key.curve),
    privateKey: new OctetString(inner),
  });
  return toPem("PRIVATE KEY", new Uint8Array(AsnConvert.serialize(info)));
}

export function privateKeyFromPem(pem: string): KeyPair {
  const der = fromPem(pem, "PRIVATE KEY");
  return guard("bad-key", "unreadable PKCS#8 private key", () => {
    const info = AsnConvert.parse(der, PrivateKeyInfo);
    const alg = info.privateKeyAlgorithm.algorithm;
    const inner = new Uint8Array(info.privateKey.buffer);
    if (alg === OID_ED25519) {
      const secretKey = new Uint8Array(AsnConvert.parse(inner, OctetString).buffer);
      if (secretKey.length !== 32) throw new CryptoError("bad-key", "Ed25519 key is not 32 bytes");
      return { curve: "ed25519", secretKey, publicKey: ed25519.getPublicKey(secretKey) };
    }
    if (alg !== id_ecPublicKey) throw new CryptoError("bad-key", `unsupported key ${alg}`);
    const ec = AsnConvert.parse(inner, ECPrivateKey);
    const secretKey = new Uint8Array(ec.privateKey.buffer);
    return { curve: "p256", secretKey, publicKey: p256.getPublicKey(secretKey, false) };
  });
}
