// The renewal's X.509/ASN.1 and signature work (core/crypto: @peculiar/asn1-*, @noble/curves).
// renewal.ts loads this with `await import()` when a renewal is due, so an idle agent never
// evaluates it (esbuild keeps it in the one bundle, evaluated on first use).

export { parseCertificate } from "../core/crypto/cert-read.ts";
export { verifyIdentity } from "../core/crypto/identity.ts";
export {
  generateKeyPair,
  keySeedBytes,
  privateKeyFromPem,
  privateKeyToPem,
} from "../core/crypto/keys.ts";
export { signRenewal } from "../core/crypto/proof.ts";
