// Where the broker's listening socket is made: TLS 1.3 with client certificates requested (the
// secure mode, manager/secure.ts), or plain TCP for loopback development (insecure mode, only
// when asked). Everything above this sees only a connection handler and a server it can close.
// The TLS listener asks for a certificate but lets clients without one through the handshake:
// joining nodes have none yet, and the broker's authorizer decides at CONNECT (refusing and
// logging everything that is neither a good certificate nor a join session).

import { createServer, type Server, type Socket } from "node:net";
import type { TlsMaterial } from "../ca/tls.ts";
import { openTlsListener } from "../tls-server.ts";

/** The broker's TLS: its key material, read at each connection (renewal swaps it). */
export interface ListenerTls {
  material: () => TlsMaterial;
  /** A client's handshake failed (bad or foreign certificate, old TLS, scanner). */
  onHandshakeError?: (err: Error, remoteAddress: string | undefined) => void;
}

export interface ListenerOptions {
  /** Address to bind; plain TCP is for loopback development only. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** TLS with client certificates; absent means plain TCP (loopback only). */
  tls?: ListenerTls;
  /** Connections (TLS handshakes included) held at once. */
  connectionsMax?: number;
  /**
   * Development only: allow plain TCP on a non-loopback address (e.g. multi-host tests in
   * network namespaces). Never for a real cluster.
   */
  plainTcpOffLoopback?: boolean;
}

/** Opens the broker's listener and resolves once it is bound. */
export async function openListener(
  opts: ListenerOptions,
  onConnection: (socket: Socket) => void,
): Promise<Server> {
  if (opts.tls) {
    return openTlsListener(
      {
        host: opts.host,
        port: opts.port,
        material: opts.tls.material,
        requireCert: false,
        connectionsMax: opts.connectionsMax,
        onHandshakeError: opts.tls.onHandshakeError,
      },
      onConnection,
    );
  }
  if (!isLoopback(opts.host) && !opts.plainTcpOffLoopback) {
    throw new Error(
      `broker: plain TCP is for development and binds loopback only, not ${opts.host}; ` +
        "run in secure mode (TLS with client certificates) for other addresses",
    );
  }
  const server = createServer({ noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "localhost";
}

/** The port a bound server listens on. */
export function boundPort(server: Server): number {
  const addr = server.address();
  if (addr === null || typeof addr !== "object") throw new Error("broker: listener not bound");
  return addr.port;
}
