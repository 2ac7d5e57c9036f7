// Reads X.509 certificates (ours, or anyone's: a device may present garbage) into plain
// values, and checks a certificate's signature against an issuer. Every failure is a typed
// CryptoError; nothing a peer sends can make this throw anything else.

import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  type Extension,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  type Name,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { limits } from "../limits.ts";
import { toHex } from "./bytes.ts";
import { type DistinguishedName, OID_CN, OID_O, OID_OU, type ParsedCertificate } from "./cert.ts";
import { CryptoError, guard } from "./errors.ts";
import { type Curve, fromSpki, OID_ECDSA_SHA256, OID_ED25519, verify } from "./keys.ts";
import { fromPem } from "./pem.ts";

function attribute(name: Name, oid: string): string | undefined {
  for (const rdn of name) for (const atv of rdn) if (atv.type === oid) return atv.value.toString();
  return undefined;
}

function decodeName(name: Name): DistinguishedName {
  const organizationalUnit = attribute(name, OID_OU);
  return {
    commonName: attribute(name, OID_CN) ?? "",
    organization: attribute(name, OID_O) ?? "",
    ...(organizationalUnit === undefined ? {} : { organizationalUnit }),
  };
}

function findExtension(exts: Extension[], oid: string): Uint8Array | undefined {
  const e = exts.find((x) => x.extnID === oid);
  return e ? new Uint8Array(e.extnValue.buffer) : undefined;
}

function signatureCurve(oid: string): Curve {
  if (oid === OID_ED25519) return "ed25519";
  if (oid === OID_ECDSA_SHA256) return "p256";
  throw new CryptoError("bad-certificate", `unsupported signature algorithm ${oid}`);
}

function readExtensions(exts: Extension[]) {
  const bc = findExtension(exts, id_ce_basicConstraints);
  const san = findExtension(exts, id_ce_subjectAltName);
  const eku = findExtension(exts, id_ce_extKeyUsage);
  const ski = findExtension(exts, id_ce_subjectKeyIdentifier);
  const names = san ? [...AsnConvert.parse(san, SubjectAlternativeName)] : [];
  return {
    isCA: bc ? AsnConvert.parse(bc, BasicConstraints).cA : false,
    dnsNames: names.flatMap((n) => (n.dNSName === undefined ? [] : [n.dNSName])),
    ipAddresses: names.flatMap((n) => (n.iPAddress === undefined ? [] : [n.iPAddress])),
    extKeyUsage: eku ? [...AsnConvert.parse(eku, ExtendedKeyUsage)] : [],
    ...(ski
      ? { subjectKeyId: new Uint8Array(AsnConvert.parse(ski, SubjectKeyIdentifier).buffer) }
      : {}),
  };
}

/** Parses a PEM (one CERTIFICATE block) or DER certificate. */
export function parseCertificate(input: string | Uint8Array): ParsedCertificate {
  const der = typeof input === "string" ? fromPem(input, "CERTIFICATE") : input;
  if (der.length > limits.certBytesMax)
    throw new CryptoError(
      "bad-certificate",
      `certificate larger than ${limits.certBytesMax} bytes`,
    );
  return guard("bad-certificate", "unreadable certificate", () => {
    const cert = AsnConvert.parse(der, Certificate);
    const tbs = cert.tbsCertificate;
    const tbsRaw = cert.tbsCertificateRaw ?? AsnConvert.serialize(tbs);
    const { curve, publicKey } = fromSpki(tbs.subjectPublicKeyInfo);
    return {
      der: Uint8Array.from(der),
      serial: toHex(new Uint8Array(tbs.serialNumber)),
      subject: decodeName(tbs.subject),
      issuer: decodeName(tbs.issuer),
      notBeforeMs: tbs.validity.notBefore.getTime().getTime(),
      notAfterMs: tbs.validity.notAfter.getTime().getTime(),
      curve,
      publicKey,
      ...readExtensions([...(tbs.extensions ?? [])]),
      signatureCurve: signatureCurve(cert.signatureAlgorithm.algorithm),
      tbs: new Uint8Array(tbsRaw),
      signature: new Uint8Array(cert.signatureValue),
    };
  });
}

/** True when `issuer`'s key signed `cert` (and the algorithms agree); never throws. */
export function isSignedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (cert.signatureCurve !== issuer.curve) return false;
  return verify(issuer.curve, issuer.publicKey, cert.signature, cert.tbs);
}
