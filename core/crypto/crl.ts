// X.509 v2 certificate revocation lists (RFC 5280 §5) signed by the cluster root, for brokers
// that check revocation through OpenSSL (mosquitto's `crlfile`). The CA regenerates the CRL on
// every revocation; our own transports consult the revocation list directly instead.

import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  CertificateList,
  CRLNumber,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
} from "@peculiar/asn1-x509";
import { fromHex, toArrayBuffer, toHex } from "./bytes.ts";
import {
  encodeName,
  extension,
  keyIdentifier,
  type ParsedCertificate,
  signatureAlgorithm,
} from "./cert.ts";
import { CryptoError, guard } from "./errors.ts";
import type { CertificateAuthorityKeys } from "./identity.ts";
import { sign, verify } from "./keys.ts";
import { fromPem, toPem } from "./pem.ts";

export interface RevokedEntry {
  serial: string;
  revokedAtMs: number;
}

export interface CrlOptions {
  ca: CertificateAuthorityKeys;
  revoked: readonly RevokedEntry[];
  thisUpdateMs: number;
  /** Past this, OpenSSL refuses every client of a broker holding this CRL: regenerate before. */
  nextUpdateMs: number;
  /** Monotonic CRL number (RFC 5280 §5.2.3). */
  crlNumber: number;
}

export function buildCrl(o: CrlOptions): string {
  if (!(o.thisUpdateMs < o.nextUpdateMs))
    throw new CryptoError("bad-input", "thisUpdate >= nextUpdate");
  const keyId = new KeyIdentifier(toArrayBuffer(keyIdentifier(o.ca.key.publicKey)));
  const alg = signatureAlgorithm(o.ca.key.curve);
  const revoked = o.revoked.map(
    (r) =>
      new RevokedCertificate({
        userCertificate: toArrayBuffer(fromHex(r.serial)),
        revocationDate: new Time(new Date(r.revokedAtMs)),
      }),
  );
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: alg,
    issuer: encodeName(o.ca.cert.subject),
    thisUpdate: new Time(new Date(o.thisUpdateMs)),
    nextUpdate: new Time(new Date(o.nextUpdateMs)),
    ...(revoked.length > 0 ? { revokedCertificates: revoked } : {}),
    crlExtensions: [
      extension(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: keyId }),
      ),
      extension(id_ce_cRLNumber, false, new CRLNumber(o.crlNumber)),
    ],
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const signature = toArrayBuffer(sign(o.ca.key, tbsDer));
  const crl = new CertificateList({ tbsCertList: tbs, signatureAlgorithm: alg, signature });
  return toPem("X509 CRL", new Uint8Array(AsnConvert.serialize(crl)));
}

/** The revoked serials of a CRL, after checking the CA signed it. */
export function readCrl(
  pem: string,
  ca: ParsedCertificate,
): { serials: string[]; nextUpdateMs: number } {
  const der = fromPem(pem, "X509 CRL");
  const crl = guard("bad-der", "unreadable CRL", () => AsnConvert.parse(der, CertificateList));
  const tbs = new Uint8Array(crl.tbsCertListRaw ?? AsnConvert.serialize(crl.tbsCertList));
  if (!verify(ca.curve, ca.publicKey, new Uint8Array(crl.signature), tbs))
    throw new CryptoError("bad-signature", "CRL not signed by this CA");
  const list = crl.tbsCertList;
  return {
    serials: (list.revokedCertificates ?? []).map((r) => toHex(new Uint8Array(r.userCertificate))),
    nextUpdateMs: list.nextUpdate?.getTime().getTime() ?? Number.POSITIVE_INFINITY,
  };
}
