// The manager's API server: one route table served on a unix socket (created 0600) and,
// optionally, a TCP address: mutual TLS with admin or manager certificates in secure mode
// (`tcp.tls`, from manager/secure.ts apiTls), plain HTTP only in insecure mode. The daemon
// builds it from its ManagerContext and starts and stops it with the manager:
//
//   const api = new ApiServer(ctx, { socketPath, tcp: { host, port, tls }, tokens });
//   const where = await api.start();   ...   await api.stop();

import type { Server } from "node:http";
import type { CaKeeper } from "../ca/lifecycle.ts";
import type { ManagerContext } from "../context.ts";
import { caRoutes } from "./ca.ts";
import { clusterRoutes } from "./cluster.ts";
import { EventHub, eventRoutes } from "./events.ts";
import {
  type ApiTls,
  clearStaleSocket,
  createHttpServer,
  listen,
  listenTls,
  restrictSocket,
} from "./http.ts";
import type { LogSource } from "./logs.ts";
import { nodeRoutes } from "./nodes.ts";
import { type ApiRequest, type ApiResponse, type Route, Router } from "./router.ts";
import { serviceRoutes } from "./services.ts";
import { taskRoutes } from "./tasks.ts";
import type { TokenSource } from "./tokens.ts";

export interface ApiServerOptions {
  /** Unix socket path (the data dir's `fleet.sock`). */
  socketPath?: string;
  /** TCP listener for remote operators; port 0 picks a free one. With `tls`, mutual TLS. */
  tcp?: { host: string; port: number; tls?: ApiTls };
  /** Join tokens; without one, /v1/join-tokens answers 501. */
  tokens?: TokenSource;
  /** Service logs; without one, /v1/services/{id}/logs answers 501. */
  logs?: LogSource;
  /** The manager's CA (unlock, admin and broker certificates); without one /v1/ca/* is 501. */
  ca?: CaKeeper;
}

export interface ApiAddresses {
  socketPath?: string;
  tcp?: { host: string; port: number };
}

export interface ApiServices {
  tokens?: TokenSource;
  logs?: LogSource;
  events: EventHub;
  ca?: CaKeeper;
}

export const routes: Route<ApiServices>[] = [
  ...clusterRoutes,
  ...nodeRoutes,
  ...serviceRoutes,
  ...taskRoutes,
  ...eventRoutes,
  ...caRoutes,
] as Route<ApiServices>[];

export class ApiServer {
  readonly events: EventHub;
  readonly #router: Router<ApiServices>;
  readonly #options: ApiServerOptions;
  readonly #servers: Server[] = [];
  /** TLS listeners in front of an HTTP server (closed with it). */
  readonly #listeners: { close(cb: () => void): unknown }[] = [];
  readonly #ctx: ManagerContext;

  constructor(ctx: ManagerContext, options: ApiServerOptions = {}) {
    this.#ctx = ctx;
    this.#options = options;
    this.events = new EventHub(ctx.store, ctx.now);
    const services = {
      tokens: options.tokens,
      logs: options.logs,
      events: this.events,
      ...(options.ca ? { ca: options.ca } : {}),
    };
    this.#router = new Router(routes, ctx, services);
  }

  /** Answers one request without any socket (tests, and the daemon's own use). */
  handle(req: ApiRequest): Promise<ApiResponse> {
    return this.#router.dispatch(req);
  }

  async start(): Promise<ApiAddresses> {
    this.events.start();
    const out: ApiAddresses = {};
    const handler = (req: ApiRequest) => this.#router.dispatch(req);
    try {
      const { socketPath, tcp } = this.#options;
      if (socketPath !== undefined) {
        await clearStaleSocket(socketPath);
        const server = createHttpServer(handler);
        this.#servers.push(server);
        await listen(server, { path: socketPath });
        restrictSocket(socketPath);
        out.socketPath = socketPath;
      }
      if (tcp !== undefined) {
        const server = createHttpServer(handler);
        this.#servers.push(server);
        const where = { host: tcp.host, port: tcp.port };
        const bound = tcp.tls ? await listenTls(server, where, tcp.tls) : server;
        if (tcp.tls) this.#listeners.push(bound);
        else await listen(server, where);
        const addr = bound.address();
        const port = typeof addr === "object" && addr ? addr.port : tcp.port;
        out.tcp = { host: tcp.host, port };
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#ctx.log.info("api listening", { socket: out.socketPath, tcp: out.tcp?.port });
    return out;
  }

  /** Stops listening and ends every open request and event stream. */
  async stop(): Promise<void> {
    this.events.stop();
    const servers = this.#servers.splice(0);
    const listeners = this.#listeners.splice(0);
    await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }
}
