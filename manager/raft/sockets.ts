// The one place peer sockets are created: plain TCP (insecure mode, loopback development) or
// mutual TLS with manager certificates (secure mode, `tlsSockets`), without touching the
// transport. A factory only opens sockets: it never reads or writes them.

import net from "node:net";
import tls from "node:tls";
import { limits } from "../../core/limits.ts";
import type { TlsMaterial } from "../ca/tls.ts";
import { managerClientOptions, openTlsListener, type PeerCert, peerCert } from "../tls-server.ts";

export interface PeerAddr {
  host: string;
  port: number;
}

export interface SocketFactory {
  /** Resolves with a socket ready to write (connected, and handshaken for TLS). */
  connect(addr: PeerAddr, timeoutMs: number): Promise<net.Socket>;
  /** Listens at `addr` (port 0: any free port); every accepted socket goes to `onSocket`. */
  listen(addr: PeerAddr, onSocket: (socket: net.Socket) => void): Promise<net.Server>;
  /**
   * Secure mode: why the peer on `socket` may not speak for Raft id `raftId` (its certificate
   * names another node than the store's owner of that id), or undefined when it may. The
   * transport asks once it knows the id: after an inbound hello, after an outbound connect.
   * Absent (plain TCP): every peer may claim any id.
   */
  checkRaftId?(socket: net.Socket, raftId: number): string | undefined;
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

export interface TlsSocketsOptions {
  /** This manager's material, read at each connection (renewal swaps it). */
  material: () => TlsMaterial;
  /**
   * Fleet's check of the other side's certificate, run on both ends (the dialled server's and
   * the accepted client's): cluster, OU manager, validity, revocation. Throws to refuse.
   */
  checkPeer: (peer: PeerCert) => void;
  /** A connection was refused (handshake failed or the peer's certificate did not pass). */
  onRefused?: (reason: string, remoteAddress: string | undefined) => void;
  /**
   * Whether the certificate of node `nodeId` (its CN) may speak for Raft id `raftId`: a reason
   * to refuse, or undefined. Absent: any manager certificate for any id.
   */
  bindRaftId?: (raftId: number, nodeId: string) => string | undefined;
}

/**
 * Mutual TLS 1.3 between managers: both sides present manager certificates, both verify the
 * other's against the cluster root (OpenSSL) and `checkPeer` (fleet). A socket reaches the
 * transport only once both checks passed.
 */
export function tlsSockets(o: TlsSocketsOptions): SocketFactory {
  return {
    connect(addr, timeoutMs) {
      return new Promise((resolve, reject) => {
        const socket = tls.connect({
          host: addr.host,
          port: addr.port,
          ...managerClientOptions(o.material(), o.checkPeer),
        });
        const fail = (err: Error) => {
          socket.destroy();
          reject(err);
        };
        socket.setTimeout(timeoutMs, () =>
          fail(new Error(`TLS connect timed out after ${timeoutMs} ms`)),
        );
        socket.once("error", fail);
        socket.once("secureConnect", () => {
          socket.setNoDelay(true);
          socket.setTimeout(0);
          socket.off("error", fail);
          resolve(socket);
        });
      });
    },
    listen(addr, onSocket) {
      const refused = (why: string, remote: string | undefined) => o.onRefused?.(why, remote);
      return openTlsListener(
        {
          host: addr.host,
          port: addr.port,
          material: o.material,
          requireCert: true,
          connectionsMax: limits.peerInboundConnectionsMax,
          onHandshakeError: (err, remote) => refused(`handshake: ${err.message}`, remote),
        },
        (socket) => {
          const peer = peerCert(socket);
          try {
            if (!peer) throw new Error("no certificate");
            o.checkPeer(peer);
          } catch (err) {
            refused(`peer certificate: ${(err as Error).message}`, socket.remoteAddress);
            socket.destroy();
            return;
          }
          onSocket(socket);
        },
      );
    },
    ...(o.bindRaftId ? { checkRaftId: raftIdCheck(o.bindRaftId) } : {}),
  };
}

function raftIdCheck(
  bind: (raftId: number, nodeId: string) => string | undefined,
): (socket: net.Socket, raftId: number) => string | undefined {
  return (socket, raftId) => {
    const nodeId = peerCert(socket)?.commonName;
    if (nodeId === undefined) return "peer presented no certificate";
    return bind(raftId, nodeId);
  };
}
