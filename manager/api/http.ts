// HTTP/1.1 transport of the API: reads a bounded body, hands plain data to the router, writes
// JSON or a server-sent event stream. `createHttpServer` is the one place an HTTP server is
// made; `listenTls` puts it behind a mutual-TLS listener (the TCP port in secure mode).

import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { Server as TlsServer } from "node:tls";
import type { TlsMaterial } from "../ca/tls.ts";
import { openTlsListener, type PeerCert, peerCert } from "../tls-server.ts";
import { ApiError } from "./errors.ts";
import { apiLimits } from "./limits.ts";
import type { ApiRequest, ApiResponse, EventSink } from "./router.ts";

export type Handler = (req: ApiRequest) => Promise<ApiResponse>;

export function createHttpServer(handler: Handler): Server {
  const server = createServer((req, res) => {
    // serve() answers every failure itself; this only guards against a bug in it.
    serve(handler, req, res).catch(() => res.destroy());
  });
  server.requestTimeout = apiLimits.requestTimeoutMs;
  server.headersTimeout = Math.min(apiLimits.requestTimeoutMs, 10_000);
  return server;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 0)}\n`;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: ApiError): void {
  if (err.code === "body_too_large") res.setHeader("connection", "close");
  sendJson(res, err.status, err.body());
}

async function serve(handler: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: string | undefined;
  try {
    body = await readBody(req);
  } catch (err) {
    if (err instanceof ApiError) sendError(res, err);
    else res.destroy();
    return;
  }
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
  const out = await handler({ method: req.method ?? "GET", url: req.url ?? "/", body, headers });
  if ("body" in out) sendJson(res, out.status, out.body);
  else await stream(res, out.stream);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  const max = apiLimits.requestBodyBytesMax;
  const tooLarge = () =>
    new ApiError("body_too_large", `request body exceeds ${max} bytes; send a smaller spec`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(size === 0 ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function stream(res: ServerResponse, run: (sink: EventSink) => Promise<void>) {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  let open = true;
  const closed = new Promise<void>((resolve) => res.once("close", resolve)).then(() => {
    open = false;
  });
  const write = (text: string) => {
    if (!open) return false;
    res.write(text);
    if (res.writableLength <= apiLimits.eventClientBacklogBytesMax) return true;
    res.destroy();
    return false;
  };
  const sink: EventSink = {
    send: (event, data, id) =>
      write(`${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    comment: (text) => void write(`: ${text.replace(/\n/g, " ")}\n\n`),
    closed,
    end: () => {
      if (open) res.end();
    },
  };
  const keepalive = setInterval(() => sink.comment("keepalive"), apiLimits.eventKeepaliveMs);
  try {
    await run(sink);
  } finally {
    clearInterval(keepalive);
    sink.end();
  }
}

/** Mutual TLS for the API's TCP port (manager/secure.ts apiTls). */
export interface ApiTls {
  /** This manager's material, read at each connection (renewal swaps it). */
  material: () => TlsMaterial;
  /** Checks a client's certificate (admin or manager of this cluster); throws to refuse. */
  checkPeer: (peer: PeerCert) => void;
  onRefused?: (reason: string, remoteAddress: string | undefined) => void;
}

/**
 * Serves `server` behind a TLS 1.3 listener that requires a client certificate passing
 * `checkPeer`; only then does the connection reach HTTP. Close the returned server to stop.
 */
export function listenTls(
  server: Server,
  where: { host: string; port: number },
  tls: ApiTls,
): Promise<TlsServer> {
  const refused = (why: string, remote: string | undefined) => tls.onRefused?.(why, remote);
  return openTlsListener(
    {
      ...where,
      material: tls.material,
      requireCert: true,
      onHandshakeError: (err, remote) => refused(`handshake: ${err.message}`, remote),
    },
    (socket) => {
      const peer = peerCert(socket);
      try {
        if (!peer) throw new Error("no certificate");
        tls.checkPeer(peer);
      } catch (err) {
        refused(`client certificate: ${(err as Error).message}`, socket.remoteAddress);
        socket.destroy();
        return;
      }
      server.emit("connection", socket);
    },
  );
}

/** Refuses to take over a socket another live process serves; removes a stale one. */
export async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) {
    throw new Error(`api: another process already serves ${path}; stop it or choose another path`);
  }
  unlinkSync(path);
}

export function listen(server: Server, where: { path: string } | { host: string; port: number }) {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if ("path" in where) listenPrivate(server, where.path, done);
    else server.listen(where.port, where.host, done);
  });
}

/** Binds with a umask that leaves the socket 0600 from its first instant (the bind is
 * synchronous inside listen()); restrictSocket() then checks it. */
function listenPrivate(server: Server, path: string, done: () => void): void {
  let old: number | undefined;
  try {
    old = process.umask(0o177);
  } catch {
    // worker threads cannot change the umask: restrictSocket() still applies 0600
  }
  try {
    server.listen(path, done);
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/** The socket is for root (or the daemon's user) only: DESIGN §4. */
export function restrictSocket(path: string): void {
  chmodSync(path, 0o600);
}
