// A manager's own certificate renewal. Every manager holds the cluster's CA (the root key is in
// the replicated store; with autolock, once unlocked), so it renews its certificate itself, on
// the agents' schedule (random point in 50-80% of the lifetime) and through the same code: the
// agent's CertificateRenewal, whose "publish" here hands the csr straight to the CA instead of
// the broker. The new material is written like an agent's (crash-safe key/cert order) and
// swapped in for new connections (SecurityDeps.tls reads it at each one); the new serial is
// recorded on the manager's Node. While the CA is locked a renewal waits and retries.
//
// Role changes (manager/ca/role-reissue.ts): when the Node's role differs from its
// certificate's OU (demoted, or a demotion undone), it renews at once and gets the store's role.
// A worker certificate is written to disk and recorded but not swapped in: the demoted manager
// keeps presenting its manager certificate to its peers until the leader has removed it from
// the Raft group (and revoked that certificate); it then stops. A certificate the Node does not
// record yet (the founder's first) is recorded.

import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import type { Store } from "../../core/store/store.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import {
  CertificateRenewal,
  type CertPaths,
  certPaths,
  loadMaterial,
  type NodeMaterial,
} from "../../edge-agent/renewal.ts";
import type { Logger } from "../log.ts";
import type { CertificateAuthority } from "./ca.ts";
import { nextCertificateRecord, roleCertificate } from "./role-reissue.ts";

export interface ManagerRenewalOptions {
  dataDir: string;
  clusterId: string;
  nodeId: string;
  store: Store;
  writer: StoreWriter;
  ca: () => CertificateAuthority | undefined;
  /** Called with the new material once it is on disk. */
  swap: (m: NodeMaterial) => void;
  log: Logger;
  now?: () => number;
  /** Retry while the CA is locked or a write fails (default 60 s, jittered). */
  retryMs?: number;
  /** How often the Node's role and record are compared with the certificate (default 1 s). */
  roleCheckMs?: number;
}

export interface ManagerRenewal {
  readonly renewal: CertificateRenewal;
  renewNow(): void;
  stop(): void;
}

function certRole(certPem: string): {
  serial: string;
  notAfterMs: number;
  role: string | undefined;
} {
  const c = parseCertificate(certPem);
  return { serial: c.serial, notAfterMs: c.notAfterMs, role: c.subject.organizationalUnit };
}

/** Starts the manager's renewal; undefined (logged) when its certificate files are unusable. */
export function startManagerRenewal(o: ManagerRenewalOptions): ManagerRenewal | undefined {
  const paths: CertPaths = certPaths(o.dataDir);
  let material: NodeMaterial;
  try {
    material = loadMaterial(paths);
  } catch (err) {
    o.log.warn("own certificate renewal off", { err: (err as Error).message });
    return undefined;
  }
  let renewal: CertificateRenewal | undefined;
  const answer = (payload: Uint8Array): void => {
    const ca = o.ca();
    const csr = decodeMessage(payload, "csr");
    if (!ca || !csr.ok) {
      o.log.info("own certificate not renewed yet", { why: ca ? "bad csr" : "CA locked" });
      return;
    }
    const node = o.store.view((tx) => tx.get("nodes", o.nodeId));
    try {
      const issued = ca.renew(o.nodeId, csr.message, node ? { role: node.spec.role } : undefined, {
        ipAddresses: ipsOf(node?.managerStatus),
        dnsNames: dnsOf(node?.managerStatus),
      });
      const body = encodeMessage("cert", { certPem: issued.certPem, caPem: ca.root.certPem });
      const presented = certRole(csr.message.certPem);
      const role = issued.role === "manager" ? "manager" : "worker";
      if (renewal?.onCert(body))
        void o.writer
          .update((tx) => {
            const n = tx.get("nodes", o.nodeId);
            if (!n) return;
            const next = { serial: issued.serial, notAfterMs: issued.notAfterMs, role } as const;
            const certificate = nextCertificateRecord(n.certificate, next, presented);
            tx.update("nodes", { ...n, certificate, updatedAt: Date.now() });
          })
          .catch((err: Error) => o.log.warn("own serial not recorded", { err: err.message }));
    } catch (err) {
      o.log.warn("own certificate renewal refused", { err: (err as Error).message });
    }
  };
  renewal = new CertificateRenewal(
    {
      clusterId: o.clusterId,
      nodeId: o.nodeId,
      paths,
      retryMs: o.retryMs ?? 60_000,
      ...(o.now ? { now: o.now } : {}),
      link: {
        publish: (_topic, payload) => {
          setImmediate(() => answer(payload));
          return true;
        },
        updateTls: (m) => {
          if (certRole(m.cert).role === "worker") {
            o.log.info(
              "demoted: worker certificate written; the manager certificate stays in use until this manager leaves the Raft group",
            );
            return;
          }
          o.swap({ caPem: m.ca, certPem: m.cert, keyPem: m.key });
        },
      },
      log: (line) => o.log.info(line),
      onRenewed: (r) =>
        o.log.info("own certificate renewed", {
          serial: r.serial,
          notAfter: new Date(r.notAfterMs).toISOString(),
        }),
    },
    material,
  );
  renewal.start();
  const r = renewal;
  let asked: string | undefined;
  let recording = false;
  const check = () => {
    const node = o.store.view((tx) => tx.get("nodes", o.nodeId));
    if (!node) return;
    const mine = certRole(r.material.certPem);
    if (node.spec.role !== mine.role) {
      // One immediate renewal per role change; the renewal retries on its own after that.
      if (asked !== node.spec.role) {
        asked = node.spec.role;
        o.log.info("role changed: reissuing this manager's certificate", {
          from: mine.role,
          to: node.spec.role,
        });
        r.renewNow();
      }
      return;
    }
    asked = undefined;
    if (recording || roleCertificate(node)?.serial === mine.serial) return;
    recording = true;
    void o.writer
      .update((tx) => {
        const n = tx.get("nodes", o.nodeId);
        if (!n || n.certificate?.serial === mine.serial) return;
        const prev = roleCertificate(n);
        const role = mine.role === "worker" ? "worker" : "manager";
        // A record from before roles were tracked is a manager's (managers always had one).
        const recorded = prev && {
          serial: prev.serial,
          notAfterMs: prev.notAfter,
          role: prev.role ?? "manager",
        };
        const certificate = nextCertificateRecord(
          prev,
          { serial: mine.serial, notAfterMs: mine.notAfterMs, role },
          recorded ?? { ...mine, role },
        );
        tx.update("nodes", { ...n, certificate, updatedAt: Date.now() });
      })
      .catch((err: Error) => o.log.debug("own certificate not recorded yet", { err: err.message }))
      .finally(() => {
        recording = false;
      });
  };
  const timer = setInterval(check, o.roleCheckMs ?? 1000);
  check();
  return {
    renewal: r,
    renewNow: () => r.renewNow(),
    stop: () => {
      clearInterval(timer);
      r.stop();
    },
  };
}

type ManagerStatusLike = { addr?: string; brokerAddr?: string } | undefined;

function hosts(ms: ManagerStatusLike): string[] {
  const out = [ms?.addr, ms?.brokerAddr].flatMap((a) =>
    a ? [a.slice(0, Math.max(0, a.lastIndexOf(":"))).replace(/^\[|\]$/g, "")] : [],
  );
  return [...new Set(out.filter((h) => h !== ""))];
}

const isIp = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");

function ipsOf(ms: ManagerStatusLike): string[] {
  return hosts(ms).filter(isIp);
}

function dnsOf(ms: ManagerStatusLike): string[] {
  return hosts(ms).filter((h) => !isIp(h));
}
