// X.509 v3 certificates built and read with @peculiar/asn1-x509 (ASN.1 schemas, no crypto of
// its own) and signed with @noble/curves. Pure: serials and times come from the caller. This
// file knows DER; what a fleet identity means lives in identity.ts.

import { sha256 } from "@noble/hashes/sha2.js";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  KeyIdentifier,
  KeyUsage,
  type KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
import { limits } from "../limits.ts";
import { toArrayBuffer } from "./bytes.ts";
import { CryptoError, guard } from "./errors.ts";
import { type Curve, type KeyPair, OID_ECDSA_SHA256, OID_ED25519, sign, toSpki } from "./keys.ts";

export const OID_CN = "2.5.4.3";
export const OID_OU = "2.5.4.11";
export const OID_O = "2.5.4.10";
export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export interface DistinguishedName {
  commonName: string;
  organizationalUnit?: string;
  organization: string;
}

export interface CertificateTemplate {
  /** Positive, big-endian; see `serialFromRandom`. */
  serial: Uint8Array;
  subject: DistinguishedName;
  issuer: DistinguishedName;
  notBeforeMs: number;
  notAfterMs: number;
  subjectCurve: Curve;
  subjectPublicKey: Uint8Array;
  isCA: boolean;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** The issuer's subject key identifier (omitted for a self-signed root). */
  authorityKeyId?: Uint8Array;
}

export interface ParsedCertificate {
  der: Uint8Array;
  serial: string;
  subject: DistinguishedName;
  issuer: DistinguishedName;
  notBeforeMs: number;
  notAfterMs: number;
  curve: Curve;
  publicKey: Uint8Array;
  isCA: boolean;
  dnsNames: string[];
  ipAddresses: string[];
  extKeyUsage: string[];
  subjectKeyId?: Uint8Array;
  signatureCurve: Curve;
  tbs: Uint8Array;
  signature: Uint8Array;
}

/** A positive serial from random bytes: the top bit cleared, the next set (no leading zero). */
export function serialFromRandom(random: Uint8Array): Uint8Array {
  if (random.length !== limits.certSerialBytes)
    throw new CryptoError("bad-input", `serial needs ${limits.certSerialBytes} random bytes`);
  const out = Uint8Array.from(random);
  out[0] = ((out[0] as number) & 0x7f) | 0x40;
  return out;
}

/** RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 of the public key. */
export function keyIdentifier(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, 20);
}

export function encodeName(dn: DistinguishedName): Name {
  const attrs: [string, string | undefined][] = [
    [OID_O, dn.organization],
    [OID_OU, dn.organizationalUnit],
    [OID_CN, dn.commonName],
  ];
  const rdns = attrs
    .filter((a): a is [string, string] => a[1] !== undefined)
    .map(([type, text]) => {
      const value = new AttributeValue({ utf8String: text });
      return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
    });
  return new Name(rdns);
}

export function extension(extnID: string, critical: boolean, value: unknown): Extension {
  const extnValue = new OctetString(AsnConvert.serialize(value));
  return new Extension({ extnID, critical, extnValue });
}

function extensionsOf(t: CertificateTemplate): Extensions {
  const usage = t.isCA ? 32 | 64 : 1; // keyCertSign|cRLSign : digitalSignature
  const exts = [
    extension(id_ce_basicConstraints, true, caConstraints(t.isCA)),
    extension(id_ce_keyUsage, true, new KeyUsage(usage as KeyUsageFlags)),
    extension(id_ce_subjectKeyIdentifier, false, subjectKeyIdOf(t.subjectPublicKey)),
  ];
  if (!t.isCA)
    exts.push(
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([OID_SERVER_AUTH, OID_CLIENT_AUTH])),
    );
  if (t.authorityKeyId) {
    const keyId = new KeyIdentifier(toArrayBuffer(t.authorityKeyId));
    exts.push(
      extension(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: keyId }),
      ),
    );
  }
  const names = subjectAltNames(t);
  if (names.length > 0) exts.push(extension(id_ce_subjectAltName, false, names));
  return new Extensions(exts);
}

function caConstraints(isCA: boolean): BasicConstraints {
  return isCA ? new BasicConstraints({ cA: true, pathLenConstraint: 0 }) : new BasicConstraints();
}

function subjectKeyIdOf(publicKey: Uint8Array): SubjectKeyIdentifier {
  return new SubjectKeyIdentifier(toArrayBuffer(keyIdentifier(publicKey)));
}

function subjectAltNames(t: CertificateTemplate): SubjectAlternativeName {
  const dns = (t.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName }));
  const ips = (t.ipAddresses ?? []).map((iPAddress) => new GeneralName({ iPAddress }));
  const all = [...dns, ...ips];
  if (all.length > limits.certSanEntriesMax)
    throw new CryptoError("bad-input", `at most ${limits.certSanEntriesMax} alternative names`);
  return new SubjectAlternativeName(all);
}

export function signatureAlgorithm(curve: Curve): AlgorithmIdentifier {
  return new AlgorithmIdentifier({
    algorithm: curve === "ed25519" ? OID_ED25519 : OID_ECDSA_SHA256,
  });
}

/** Builds and signs a certificate; returns its DER. */
export function buildCertificate(t: CertificateTemplate, issuerKey: KeyPair): Uint8Array {
  if (!(t.notBeforeMs < t.notAfterMs)) throw new CryptoError("bad-input", "notBefore >= notAfter");
  const alg = signatureAlgorithm(issuerKey.curve);
  const tbs = guard(
    "bad-input",
    "cannot encode the certificate",
    () =>
      new TBSCertificate({
        version: Version.v3,
        serialNumber: toArrayBuffer(t.serial),
        signature: alg,
        issuer: encodeName(t.issuer),
        validity: new Validity({
          notBefore: new Date(t.notBeforeMs),
          notAfter: new Date(t.notAfterMs),
        }),
        subject: encodeName(t.subject),
        subjectPublicKeyInfo: toSpki(t.subjectCurve, t.subjectPublicKey),
        extensions: extensionsOf(t),
      }),
  );
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const signatureValue = toArrayBuffer(sign(issuerKey, tbsDer));
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue });
  return new Uint8Array(AsnConvert.serialize(cert));
}
