// The CLI's side of the API: one JSON request at a time over the manager's unix socket or TCP,
// and server-sent event streams. Failures become CliErrors that say what went wrong and what to
// do: a manager that is not running, a socket only root may open, an API error with every
// problem of a spec. A remote manager (tcp://host:port) in secure mode is reached over mutual
// TLS with an admin certificate: --tlscacert/--tlscert/--tlskey, or a directory holding
// ca.pem, cert.pem and key.pem named by FLEET_CERT_PATH (as docker's DOCKER_CERT_PATH).

import { readFileSync } from "node:fs";
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { managerClientOptions } from "../tls-server.ts";

export const DEFAULT_HOST = "unix:///var/lib/fleet/fleet.sock";
const REQUEST_TIMEOUT_MS = 30_000;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly code?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export type Target = { socketPath: string } | { host: string; port: number };

/** `unix:///path`, `/path`, `tcp://host:port` or `host:port`. */
export function parseHost(host: string): Target {
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  if (host.startsWith("/") || host.startsWith(".")) return { socketPath: host };
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(host);
  if (!m || Number(m[2]) > 65535) {
    throw new CliError(
      `--host "${host}" is not a manager address: ` +
        "use unix:///path/to/fleet.sock or tcp://host:port",
      2,
    );
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export function describeTarget(t: Target): string {
  return "socketPath" in t ? `unix://${t.socketPath}` : `tcp://${t.host}:${t.port}`;
}

/** PEM material for a TLS connection to a manager's API. */
export interface ClientTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface ClientTlsFiles {
  cacert?: string;
  cert?: string;
  key?: string;
}

/**
 * The TLS material the flags (or FLEET_CERT_PATH) name, or undefined when none is named (plain
 * HTTP: a unix socket, or an insecure-mode manager on loopback).
 */
export function loadClientTls(
  files: ClientTlsFiles,
  env: Record<string, string | undefined>,
): ClientTls | undefined {
  const dir = env.FLEET_CERT_PATH || undefined;
  const paths = {
    cacert: files.cacert ?? (dir && join(dir, "ca.pem")),
    cert: files.cert ?? (dir && join(dir, "cert.pem")),
    key: files.key ?? (dir && join(dir, "key.pem")),
  };
  const given = Object.values(paths).filter((v) => v !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < 3) {
    throw new CliError(
      "--tlscacert, --tlscert and --tlskey go together (or set FLEET_CERT_PATH to a directory " +
        "holding ca.pem, cert.pem and key.pem)",
      2,
    );
  }
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new CliError(`--${flag} ${path}: ${(err as Error).message}`);
    }
  };
  return {
    caPem: read("tlscacert", paths.cacert!),
    certPem: read("tlscert", paths.cert!),
    keyPem: read("tlskey", paths.key!),
  };
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; problems?: { path: string; reason: string }[] };
}

export class ApiClient {
  readonly target: Target;
  readonly #tls: ClientTls | undefined;

  constructor(host: string, tls?: ClientTls) {
    this.target = parseHost(host);
    if (tls && "socketPath" in this.target) {
      throw new CliError("TLS options are for a tcp://host:port manager, not a unix socket", 2);
    }
    this.#tls = tls;
  }

  /** node:http or, with TLS, node:https (manager certificate, SAN fleet-manager, TLS 1.3). */
  #request(o: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
    if (!this.#tls) return httpRequest(o, onResponse);
    const { caPem, certPem, keyPem } = this.#tls;
    const tls = managerClientOptions({ caPem, certPem, keyPem });
    return httpsRequest({ ...o, ...tls, agent: false }, onResponse);
  }

  // biome-ignore lint/suspicious/noExplicitAny: API replies are JSON of many shapes
  async call(method: string, path: string, body?: unknown): Promise<any> {
    const { status, text } = await this.#send(method, path, body);
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(`the manager answered ${status} with something that is not JSON`);
    }
    if (status >= 200 && status < 300) return parsed;
    throw apiError(status, parsed as ApiErrorBody);
  }

  #send(method: string, path: string, body?: unknown) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: "application/json" };
    if (payload !== undefined) headers["content-type"] = "application/json";
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = this.#request({ ...this.target, method, path, headers }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", (e) => reject(this.connectError(e)));
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new CliError(`the manager at ${describeTarget(this.target)} did not answer`)),
      );
      req.on("error", (e) => reject(this.connectError(e)));
      req.end(payload);
    });
  }

  /** Reads server-sent events, calling `onEvent` for each, until the stream ends or `stop`. */
  stream(
    path: string,
    onEvent: (event: string, data: unknown) => void,
    stop?: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.#request({ ...this.target, method: "GET", path, signal: stop }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => reject(apiError(res.statusCode ?? 0, safeJson(text))));
          return;
        }
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          buf += c;
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            const ev = parseEvent(buf.slice(0, i));
            buf = buf.slice(i + 2);
            if (ev) onEvent(ev.event, ev.data);
          }
        });
        res.on("end", () => resolve());
        res.on("error", () => resolve());
      });
      req.on("error", (e) => (stop?.aborted ? resolve() : reject(this.connectError(e))));
      req.end();
    });
  }

  connectError(e: Error & { code?: string }): Error {
    if (e instanceof CliError) return e;
    const where = describeTarget(this.target);
    switch (e.code) {
      case "ENOENT":
      case "ECONNREFUSED":
        return new CliError(
          `cannot reach a fleet manager at ${where} (${e.code}): is the manager running on this ` +
            "host? Start one with `fleet init`, or point --host / FLEET_HOST at a manager",
        );
      case "EACCES":
        return new CliError(
          `permission denied on ${where}: the manager's socket is for root only; run fleet as root`,
        );
      case "ECONNRESET":
      case "EPROTO":
        return new CliError(
          `the manager at ${where} closed the connection (${e.code}): a secure manager's TCP ` +
            "port needs an admin certificate: --tlscacert, --tlscert and --tlskey, or " +
            "FLEET_CERT_PATH",
        );
      default:
        if (/certificate|self.signed|altnames|revoked/i.test(e.message)) {
          return new CliError(
            `TLS with the manager at ${where} failed: ${e.message} (is --tlscacert the ` +
              "cluster's root, and the manager certificate of this cluster?)",
          );
        }
        return new CliError(`cannot talk to the manager at ${where}: ${e.message}`);
    }
  }
}

function safeJson(text: string): ApiErrorBody {
  try {
    return JSON.parse(text) as ApiErrorBody;
  } catch {
    return {};
  }
}

function parseEvent(block: string): { event: string; data: unknown } | undefined {
  let event = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (data === "") return undefined;
  return { event, data: safeJson(data) };
}

function apiError(status: number, body: ApiErrorBody | undefined): CliError {
  const e = body?.error;
  const problems = e?.problems ?? [];
  let message = e?.message ?? `the manager answered HTTP ${status}`;
  if (problems.length > 0) {
    const what = message.replace(/:.*$/s, "");
    message = `${what}:\n${problems.map((p) => `  ${p.path || "(spec)"}: ${p.reason}`).join("\n")}`;
  }
  return new CliError(message, 1, e?.code);
}
