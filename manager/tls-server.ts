// TLS listeners and client options built from material that can change under them: the node's
// certificate is renewed while the manager runs, so every new connection reads the current
// material (a function), and a listener swaps its secure context before the handshake of the
// first connection that sees new material. Servers present the chain leaf + root, so a joining
// node can pin the root by its digest; everything is TLS 1.3 (Ed25519 certificates need it).

import type { Socket } from "node:net";
import {
  type ConnectionOptions,
  checkServerIdentity,
  createServer,
  type PeerCertificate,
  type Server,
  type TLSSocket,
  type TlsOptions,
} from "node:tls";
import { MANAGER_SERVER_NAME } from "../core/crypto/identity.ts";
import { limits } from "../core/limits.ts";
import type { TlsMaterial } from "./ca/tls.ts";

/** The leaf followed by the root, as one PEM string (what a TLS server presents). */
export function chainPem(m: TlsMaterial): string {
  return `${m.certPem.trimEnd()}\n${m.caPem.trimEnd()}\n`;
}

function serverContextOptions(m: TlsMaterial): TlsOptions {
  return { ca: [m.caPem], cert: chainPem(m), key: m.keyPem, minVersion: "TLSv1.3" };
}

export interface TlsListenOptions {
  host: string;
  port: number;
  /** Current material; read at each connection. */
  material: () => TlsMaterial;
  /**
   * Whether a client must present a certificate OpenSSL accepts. False for the broker, whose
   * join sessions have none: the broker's authorizer checks certificates at CONNECT instead.
   */
  requireCert: boolean;
  /** Connections (handshakes included) held at once; more are refused at accept. */
  connectionsMax?: number;
  /** A handshake failed or timed out (a client without a good certificate, a port scanner). */
  onHandshakeError?: (err: Error, remoteAddress: string | undefined) => void;
}

/** Opens a TLS 1.3 listener and resolves once bound; `onSecure` gets handshaken sockets. */
export async function openTlsListener(
  o: TlsListenOptions,
  onSecure: (socket: TLSSocket) => void,
): Promise<Server> {
  let current = o.material();
  const server = createServer(
    {
      ...serverContextOptions(current),
      requestCert: true,
      rejectUnauthorized: o.requireCert,
      handshakeTimeout: limits.tlsHandshakeTimeoutMs,
      noDelay: true,
    },
    onSecure,
  );
  // Runs before node:tls wraps the raw socket, so the new context serves this very handshake.
  server.prependListener("connection", () => {
    const m = o.material();
    if (sameMaterial(m, current)) return;
    current = m;
    server.setSecureContext(serverContextOptions(m));
  });
  server.on("tlsClientError", (err, socket: TLSSocket) => {
    o.onHandshakeError?.(err, socket.remoteAddress);
    socket.destroy();
  });
  if (o.connectionsMax !== undefined) server.maxConnections = o.connectionsMax;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.certPem === b.certPem && a.keyPem === b.keyPem && a.caPem === b.caPem;
}

/** node:tls client options, typed narrowly enough for mqtt.js's IClientOptions too. */
export interface ManagerClientTls {
  ca: string[];
  cert: string;
  key: string;
  servername: string;
  rejectUnauthorized: true;
  minVersion: "TLSv1.3";
  checkServerIdentity: NonNullable<ConnectionOptions["checkServerIdentity"]>;
}

/**
 * Options for a client of a manager (broker, Raft peer, API): the cluster root only, the
 * manager name `fleet-manager` checked against the server's SAN, TLS 1.3, this node's
 * certificate. `checkPeer` runs fleet's own check on the server's certificate as well
 * (cluster, role, revocation); it throws to refuse.
 */
export function managerClientOptions(
  m: TlsMaterial,
  checkPeer?: (peer: PeerCert) => void,
): ManagerClientTls {
  return {
    ca: [m.caPem],
    cert: m.certPem,
    key: m.keyPem,
    servername: MANAGER_SERVER_NAME,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const bad = checkServerIdentity(MANAGER_SERVER_NAME, cert);
      if (bad) return bad;
      if (!checkPeer) return undefined;
      try {
        // node:tls calls this only once OpenSSL verified the chain to `ca` and its validity.
        checkPeer(peerCertOf(cert, true, undefined)!);
        return undefined;
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    },
  };
}

/**
 * The leaf certificate a TLS peer presented, as OpenSSL read it: its chain and validity
 * verified against the listener's CA (or not, and why), and the subject fields fleet's identity
 * rules need. Reading these from node:tls costs nothing more per connection; parsing the DER
 * again in JavaScript (and checking its signature with noble) costs milliseconds, which a
 * reconnect storm of thousands of agents would pay on the broker's one thread.
 */
export interface PeerCert {
  der: Uint8Array;
  /** OpenSSL verified the chain to the cluster root and the validity period. */
  verified: boolean;
  /** OpenSSL's reason when not verified (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE…). */
  verifyError: string | undefined;
  commonName: string | undefined;
  organizationalUnit: string | undefined;
  organization: string | undefined;
  /** Lowercase hex, as core/crypto prints serials. */
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

function field(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function peerCertOf(
  c: PeerCertificate | undefined,
  verified: boolean,
  verifyError: string | undefined,
): PeerCert | undefined {
  if (!c?.raw || c.raw.length === 0) return undefined;
  const subject = (c.subject ?? {}) as unknown as Record<string, unknown>;
  return {
    der: new Uint8Array(c.raw),
    verified,
    verifyError,
    commonName: field(subject.CN),
    organizationalUnit: field(subject.OU),
    organization: field(subject.O),
    serial: (c.serialNumber ?? "").toLowerCase(),
    notBeforeMs: Date.parse(c.valid_from),
    notAfterMs: Date.parse(c.valid_to),
  };
}

/** What a TLS peer presented, if it presented a certificate. */
export function peerCert(socket: Socket | TLSSocket): PeerCert | undefined {
  const s = socket as Partial<TLSSocket>;
  if (typeof s.getPeerCertificate !== "function") return undefined;
  const error = s.authorizationError;
  return peerCertOf(s.getPeerCertificate(false), s.authorized === true, error && String(error));
}
