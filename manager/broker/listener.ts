// Where the broker's listening socket is made: the one place the security work swaps plain TCP
// for TLS with client certificates (tls.createServer with requestCert, the cluster CA as ca).
// Everything above this sees only a connection handler and a server it can close.

import { createServer, type Server, type Socket } from "node:net";

export interface ListenerOptions {
  /** Address to bind; plain TCP is for loopback development only. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Development only: allow plain TCP on a non-loopback address (e.g. multi-host tests in
   * network namespaces before TLS exists). Never for a real cluster.
   */
  plainTcpOffLoopback?: boolean;
}

/** Opens a plain TCP listener on a loopback address and resolves once it is bound. */
export async function openListener(
  opts: ListenerOptions,
  onConnection: (socket: Socket) => void,
): Promise<Server> {
  if (!isLoopback(opts.host) && !opts.plainTcpOffLoopback) {
    throw new Error(
      `broker: plain TCP is for development and binds loopback only, not ${opts.host}; ` +
        "use TLS on 8883 (the security work) for other addresses",
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

function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "::1" || host === "localhost";
}

/** The port a bound server listens on. */
export function boundPort(server: Server): number {
  const addr = server.address();
  if (addr === null || typeof addr !== "object") throw new Error("broker: listener not bound");
  return addr.port;
}
