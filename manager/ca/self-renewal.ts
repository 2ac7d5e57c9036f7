// A manager's own certificate renewal. Every manager holds the cluster's CA (the root key is in
// the replicated store; with autolock, once unlocked), so it renews its certificate itself, on
// the agents' schedule (random point in 50-80% of the lifetime) and through the same code: the
// agent's CertificateRenewal, whose "publish" here hands the csr straight to the CA instead of
// the broker. The new material is written like an agent's (crash-safe key/cert order) and
// swapped in for new connections (SecurityDeps.tls reads it at each one); the new serial is
// recorded on the manager's Node. While the CA is locked a renewal waits and retries.

import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
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
}

/** Starts the manager's renewal; undefined (logged) when its certificate files are unusable. */
export function startManagerRenewal(o: ManagerRenewalOptions): CertificateRenewal | undefined {
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
      if (renewal?.onCert(body))
        void o.writer
          .update((tx) => {
            const n = tx.get("nodes", o.nodeId);
            if (!n) return;
            const certificate = { serial: issued.serial, notAfter: issued.notAfterMs };
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
        updateTls: (m) => o.swap({ caPem: m.ca, certPem: m.cert, keyPem: m.key }),
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
  return renewal;
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
