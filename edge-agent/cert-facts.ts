// What the agent needs from its certificate at start: serial and validity (the renewal's
// schedule) and whether the key on disk belongs to the certificate. node:crypto (OpenSSL, in
// every node process already) answers these; the ASN.1 reader and the signature code
// (core/crypto: @peculiar/asn1-*, @noble/curves, ~10 MB once evaluated) are loaded only to
// renew or join. Failures are CryptoErrors like core/crypto's.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { CryptoError } from "../core/crypto/errors.ts";
import { limits } from "../core/limits.ts";

export interface CertFacts {
  /** Lower-case hex of the DER INTEGER's bytes, as core/crypto's parseCertificate gives it. */
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

function x509(certPem: string): X509Certificate {
  if (certPem.length > 2 * limits.certBytesMax)
    throw new CryptoError(
      "bad-certificate",
      `certificate larger than ${limits.certBytesMax} bytes`,
    );
  try {
    return new X509Certificate(certPem);
  } catch (err) {
    throw new CryptoError("bad-certificate", "unreadable certificate", { cause: err });
  }
}

function time(text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new CryptoError("bad-certificate", `unreadable validity ${text}`);
  return ms;
}

export function certFacts(certPem: string): CertFacts {
  const x = x509(certPem);
  // OpenSSL prints the value without the DER sign byte: a high first bit means DER held 00.
  const hex = x.serialNumber.toLowerCase();
  const serial =
    hex.length % 2 === 0 && Number.parseInt(hex.slice(0, 2), 16) >= 0x80 ? `00${hex}` : hex;
  return { serial, notBeforeMs: time(x.validFrom), notAfterMs: time(x.validTo) };
}

/** True when `keyPem` (PKCS#8) is the private key of `certPem`; a bad key is a "bad-key" error. */
export function keyFitsCert(keyPem: string, certPem: string): boolean {
  const x = x509(certPem);
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CryptoError("bad-key", "unreadable private key", { cause: err });
  }
  try {
    return x.checkPrivateKey(key);
  } catch {
    return false;
  }
}
