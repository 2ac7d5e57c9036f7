// What a certificate means in fleet (DESIGN §7): CN = node id, OU = role, O = cluster id, signed
// by the cluster's root CA. Creates the root, issues node certificates and checks a presented
// certificate down to an Identity. Pure: keys, serials and the time are passed in.

import { sha256 } from "@noble/hashes/sha2.js";
import { limits } from "../limits.ts";
import { isTopicId } from "../topics.ts";
import { constantTimeEqual, fromHex, toHex } from "./bytes.ts";
import {
  buildCertificate,
  keyIdentifier,
  type ParsedCertificate,
  serialFromRandom,
} from "./cert.ts";
import { isSignedBy, parseCertificate } from "./cert-read.ts";
import { CryptoError } from "./errors.ts";
import { type Curve, type KeyPair, publicKeyCurve } from "./keys.ts";
import { MANAGER_SERVER_NAME } from "./names.ts";
import { fromPem, toPem } from "./pem.ts";

export type Role = "worker" | "manager" | "admin";
export const roles: readonly Role[] = ["worker", "manager", "admin"];

export { MANAGER_SERVER_NAME };
export const ROOT_CA_COMMON_NAME = "fleet-root-ca";

export interface CertificateAuthorityKeys {
  key: KeyPair;
  cert: ParsedCertificate;
}

export interface RootCA extends CertificateAuthorityKeys {
  certPem: string;
  /** Hex SHA-256 of the root certificate's DER: what join tokens pin. */
  digest: string;
}

/** Hex SHA-256 of a certificate's DER (PEM accepted). */
export function caDigest(cert: string | Uint8Array): string {
  return toHex(sha256(typeof cert === "string" ? fromPem(cert, "CERTIFICATE") : cert));
}

function checkId(id: string, what: string): void {
  if (!isTopicId(id)) throw new CryptoError("bad-input", `invalid ${what} ${JSON.stringify(id)}`);
}

export interface CreateRootOptions {
  clusterId: string;
  key: KeyPair;
  serialRandom: Uint8Array;
  nowMs: number;
}

/** A self-signed root for the cluster, valid limits.caCertExpiryMs from (backdated) now. */
export function createRootCA(o: CreateRootOptions): RootCA {
  checkId(o.clusterId, "cluster id");
  const dn = { commonName: ROOT_CA_COMMON_NAME, organization: o.clusterId };
  const der = buildCertificate(
    {
      serial: serialFromRandom(o.serialRandom),
      subject: dn,
      issuer: dn,
      notBeforeMs: o.nowMs - limits.certBackdateMs,
      notAfterMs: o.nowMs + limits.caCertExpiryMs,
      subjectCurve: o.key.curve,
      subjectPublicKey: o.key.publicKey,
      isCA: true,
    },
    o.key,
  );
  return {
    key: o.key,
    cert: parseCertificate(der),
    certPem: toPem("CERTIFICATE", der),
    digest: caDigest(der),
  };
}

/** Loads a stored root (certificate PEM + decrypted key), checking the key matches. */
export function loadRootCA(certPem: string, key: KeyPair): RootCA {
  const cert = parseCertificate(certPem);
  if (!cert.isCA || cert.curve !== key.curve || !constantTimeEqual(cert.publicKey, key.publicKey))
    throw new CryptoError("bad-key", "the CA key does not match the root certificate");
  return { key, cert, certPem: toPem("CERTIFICATE", cert.der), digest: caDigest(cert.der) };
}

export interface IssueOptions {
  ca: CertificateAuthorityKeys;
  clusterId: string;
  nodeId: string;
  role: Role;
  publicKey: Uint8Array;
  serialRandom: Uint8Array;
  nowMs: number;
  expiryMs: number;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/** A TLS client+server certificate for a node (or an operator, role admin). */
export function issueCertificate(o: IssueOptions): IssuedCertificate {
  checkId(o.clusterId, "cluster id");
  checkId(o.nodeId, "node id");
  if (!roles.includes(o.role)) throw new CryptoError("bad-input", `invalid role ${o.role}`);
  if (!(o.expiryMs >= limits.nodeCertExpiryMsMin))
    throw new CryptoError("bad-input", `certificate expiry below ${limits.nodeCertExpiryMsMin} ms`);
  // X.509 times have whole seconds: round here so the returned times are the certificate's.
  const notBeforeMs = wholeSeconds(o.nowMs - limits.certBackdateMs);
  const notAfterMs = wholeSeconds(Math.min(o.nowMs + o.expiryMs, o.ca.cert.notAfterMs));
  const dnsNames = [...(o.role === "manager" ? [MANAGER_SERVER_NAME] : []), ...(o.dnsNames ?? [])];
  const serial = serialFromRandom(o.serialRandom);
  const der = buildCertificate(
    {
      serial,
      subject: { commonName: o.nodeId, organizationalUnit: o.role, organization: o.clusterId },
      issuer: o.ca.cert.subject,
      notBeforeMs,
      notAfterMs,
      subjectCurve: publicKeyCurve(o.publicKey),
      subjectPublicKey: o.publicKey,
      isCA: false,
      dnsNames,
      ipAddresses: o.ipAddresses ?? [],
      authorityKeyId: keyIdentifier(o.ca.key.publicKey),
    },
    o.ca.key,
  );
  const certPem = toPem("CERTIFICATE", der);
  return { certPem, serial: toHex(serial), notBeforeMs, notAfterMs };
}

function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** Who a verified certificate says its holder is. */
export interface Identity {
  nodeId: string;
  role: Role;
  clusterId: string;
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
  curve: Curve;
  publicKey: Uint8Array;
}

export interface VerifyOptions {
  nowMs: number;
  /** True when the serial was revoked (or its node removed). */
  isRevoked?: (serial: string, nodeId: string) => boolean;
  /** Accept a certificate that expired at most this long ago (re-enrolment only). */
  expiredGraceMs?: number;
}

/** Checks issuer, signature, role, cluster, validity and revocation; returns the identity. */
export function verifyIdentity(
  presented: ParsedCertificate | string | Uint8Array,
  ca: ParsedCertificate,
  o: VerifyOptions,
): Identity {
  const cert = isParsed(presented) ? presented : parseCertificate(presented);
  if (cert.isCA || !isSignedBy(cert, ca))
    throw new CryptoError("unknown-issuer", "certificate was not issued by this cluster's CA");
  const identity = identityOf(cert, ca.subject.organization);
  if (o.nowMs < cert.notBeforeMs)
    throw new CryptoError("not-yet-valid", "certificate not yet valid");
  if (o.nowMs > cert.notAfterMs + (o.expiredGraceMs ?? 0))
    throw new CryptoError("expired", `certificate of ${identity.nodeId} has expired`);
  if (o.isRevoked?.(cert.serial, identity.nodeId))
    throw new CryptoError("revoked", `certificate ${cert.serial} of ${identity.nodeId} is revoked`);
  return identity;
}

function isParsed(x: unknown): x is ParsedCertificate {
  return typeof x === "object" && x !== null && !(x instanceof Uint8Array);
}

/** The identity fields of a certificate, refusing a wrong cluster or an unknown role. */
export function identityOf(cert: ParsedCertificate, clusterId: string): Identity {
  const role = cert.subject.organizationalUnit as Role;
  if (!roles.includes(role) || !isTopicId(cert.subject.commonName))
    throw new CryptoError("wrong-identity", "certificate has no fleet node id and role");
  if (cert.subject.organization !== clusterId)
    throw new CryptoError(
      "wrong-identity",
      `certificate belongs to cluster ${cert.subject.organization}`,
    );
  const { serial, notBeforeMs, notAfterMs, curve, publicKey } = cert;
  return {
    nodeId: cert.subject.commonName,
    role,
    clusterId,
    serial,
    notBeforeMs,
    notAfterMs,
    curve,
    publicKey,
  };
}

/** Serial hex back to bytes (for revocation lists that want them). */
export function serialBytes(serial: string): Uint8Array {
  return fromHex(serial);
}
