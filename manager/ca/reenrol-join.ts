// Re-enrolment over the join listener (DESIGN §7), for brokers that refuse an expired client
// certificate in the TLS handshake (an external mosquitto: OpenSSL has no option to accept one).
// The node sends, as an anonymous join session on `join/<req>/req`, the same `csr` it would send
// on `n/<id>/csr`: its expired certificate, the new public key, a proof signed by the old key
// and one by the new key. Instead of a token, the old certificate and its key are the proof;
// the checks are the renewal's (CertificateAuthority.renew: issued by this root, expired less
// than the re-enrolment window ago, not revoked, the node still in the store, both signatures),
// and only an expired certificate is accepted here (a valid one renews on its certificate
// listener). Workers only: a manager's certificate names its addresses, which this path does not
// carry. The new certificate is recorded on the node (what `fleet node rm` revokes) and sent
// back as a joinResponse.

import type { MessageBodies } from "../../core/codec/messages.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import type { Store } from "../../core/store/store.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import type { CertificateAuthority } from "./ca.ts";

export interface ReenrolByJoinDeps {
  store: Store;
  writer: StoreWriter;
  clusterId: string;
  now?: () => number;
}

export interface Reenrolled {
  response: MessageBodies["joinResponse"];
  nodeId: string;
  serial: string;
}

/** Answers a csr sent on the join topic; throws a CryptoError (or Error) to refuse it. */
export async function reenrolByJoin(
  d: ReenrolByJoinDeps,
  ca: CertificateAuthority,
  csr: MessageBodies["csr"],
): Promise<Reenrolled> {
  const presented = parseCertificate(csr.certPem);
  const nodeId = presented.subject.commonName;
  const now = (d.now ?? Date.now)();
  if (!(now > presented.notAfterMs))
    throw new CryptoError(
      "bad-input",
      `the certificate of ${nodeId} is still valid: renew on the certificate listener`,
    );
  const node = d.store.view((tx) => tx.get("nodes", nodeId));
  const role = node?.spec.role;
  if (role === "manager")
    throw new CryptoError(
      "bad-input",
      `${nodeId} is a manager: managers do not re-enrol over the join listener (join again)`,
    );
  // Every check of a renewal: issuer, the window, revocation, the node known, both proofs.
  const issued = ca.renew(nodeId, csr, role ? { role } : undefined);
  await d.writer.update((tx) => {
    const n = tx.get("nodes", nodeId);
    if (!n) return;
    const certificate = { serial: issued.serial, notAfter: issued.notAfterMs };
    tx.update("nodes", { ...n, certificate, updatedAt: now });
  });
  return {
    nodeId,
    serial: issued.serial,
    response: {
      ok: true,
      nodeId,
      role: issued.role === "manager" ? "manager" : "worker",
      certPem: issued.certPem,
      caPem: ca.root.certPem,
      clusterId: d.clusterId,
    },
  };
}
