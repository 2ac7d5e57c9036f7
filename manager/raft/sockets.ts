// The one place peer sockets are created. Plain TCP today; the security issue swaps in a
// mutual-TLS factory (tls.connect / tls.createServer with manager certificates) without
// touching the transport. A factory only opens sockets: it never reads or writes them.

import net from "node:net";

export interface PeerAddr {
  host: string;
  port: number;
}

export interface SocketFactory {
  /** Resolves with a socket ready to write (connected, and handshaken for TLS). */
  connect(addr: PeerAddr, timeoutMs: number): Promise<net.Socket>;
  /** Listens at `addr` (port 0: any free port); every accepted socket goes to `onSocket`. */
  listen(addr: PeerAddr, onSocket: (socket: net.Socket) => void): Promise<net.Server>;
}

export const tcpSockets: SocketFactory = {
  connect(addr, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: addr.host, port: addr.port, noDelay: true });
      const fail = (err: Error) => {
        socket.destroy();
        reject(err);
      };
      socket.setTimeout(timeoutMs, () =>
        fail(new Error(`connect timed out after ${timeoutMs} ms`)),
      );
      socket.once("error", fail);
      socket.once("connect", () => {
        socket.setTimeout(0);
        socket.off("error", fail);
        resolve(socket);
      });
    });
  },
  listen(addr, onSocket) {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, onSocket);
      server.once("error", reject);
      server.listen(addr.port, addr.host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  },
};
