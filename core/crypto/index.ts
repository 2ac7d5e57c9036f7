// The identity layer's public surface (DESIGN §7): keys, X.509 certificates, join tokens,
// proofs of possession, renewal timing, CRLs and the broker ACL. Pure: randomness and time
// are always arguments.

export {
  type Access,
  type AclDecision,
  authorize,
  filterCovered,
  grants,
  type Principal,
} from "./acl.ts";
export { constantTimeEqual, fromHex, toHex } from "./bytes.ts";
export {
  buildCertificate,
  type CertificateTemplate,
  type DistinguishedName,
  type ParsedCertificate,
  serialFromRandom,
} from "./cert.ts";
export { isSignedBy, parseCertificate } from "./cert-read.ts";
export { buildCrl, type CrlOptions, type RevokedEntry, readCrl } from "./crl.ts";
export { CryptoError, type CryptoErrorCode } from "./errors.ts";
export {
  caDigest,
  createRootCA,
  type Identity,
  type IssuedCertificate,
  identityOf,
  issueCertificate,
  loadRootCA,
  MANAGER_SERVER_NAME,
  type Role,
  type RootCA,
  verifyIdentity,
} from "./identity.ts";
export {
  type Curve,
  generateKeyPair,
  type KeyPair,
  keySeedBytes,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyCurve,
  sign,
  verify,
} from "./keys.ts";
export { fromPem, pemBlocks, toPem } from "./pem.ts";
export {
  type JoinProof,
  type RenewalProof,
  signJoinRequest,
  signRenewal,
  verifyJoinProof,
  verifyRenewalProof,
} from "./proof.ts";
export { renewalState, renewalTimeMs } from "./renewal.ts";
export {
  formatJoinToken,
  type JoinRole,
  type JoinToken,
  matchJoinToken,
  parseJoinToken,
  pinCA,
  tokenSecretHash,
  verifyPinnedChain,
} from "./token.ts";
