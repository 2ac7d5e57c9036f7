// What a command is: its words (`service create`), its flags and arguments, and a run function
// that gets the parsed arguments and a context (output, the API client, the daemon launcher).

import { type FlagDef, type Parsed, str, UsageError } from "./args.ts";
import { ApiClient, DEFAULT_HOST, loadClientTls } from "./client.ts";
import type { DaemonLauncher } from "./launcher.ts";
import type { Io } from "./output.ts";

export interface CliContext {
  io: Io;
  host: string;
  client(): ApiClient;
  launcher(): Promise<DaemonLauncher>;
  /** Aborted on Ctrl-C: long-running commands stop cleanly. */
  signal: AbortSignal;
}

export interface Command {
  words: string[];
  /** Arguments after the words, for help (`SERVICE [SERVICE...]`). */
  usage: string;
  summary: string;
  flags: FlagDef[];
  /** Flags end at the first positional argument (it starts the container's command). */
  trailingCommand?: boolean;
  /** Positional argument count bounds. */
  args: { min: number; max?: number };
  run(c: CliContext, p: Parsed): Promise<number | undefined>;
}

export const globalFlags: FlagDef[] = [
  {
    name: "host",
    short: "H",
    kind: "string",
    value: "ADDR",
    help: `manager: unix:///path or tcp://host:port (default $FLEET_HOST or ${DEFAULT_HOST})`,
  },
  {
    name: "tlscacert",
    kind: "string",
    value: "FILE",
    help: "cluster root CA (PEM) of a tcp:// manager (default $FLEET_CERT_PATH/ca.pem)",
  },
  {
    name: "tlscert",
    kind: "string",
    value: "FILE",
    help: "admin certificate (PEM) for a tcp:// manager (default $FLEET_CERT_PATH/cert.pem)",
  },
  {
    name: "tlskey",
    kind: "string",
    value: "FILE",
    help: "its private key (PEM) (default $FLEET_CERT_PATH/key.pem)",
  },
  { name: "help", short: "h", kind: "bool", help: "print usage" },
];

/** Global flags that take a value (they may come before the command words). */
export const globalValueFlags = new Set(["--host", "-H", "--tlscacert", "--tlscert", "--tlskey"]);

export const quietFlag: FlagDef = {
  name: "quiet",
  short: "q",
  kind: "bool",
  help: "only display ids",
};
export const formatFlag: FlagDef = {
  name: "format",
  kind: "string",
  value: "FORMAT",
  help: "output format: table (default) or json",
};
export const filterFlag: FlagDef = {
  name: "filter",
  short: "f",
  kind: "list",
  value: "KEY=VALUE",
  help: "filter output (repeatable)",
};

export function format(p: Parsed): "table" | "json" {
  const f = str(p, "format") ?? "table";
  if (f !== "table" && f !== "json") {
    throw new UsageError(`--format: "${f}" is not supported (use table or json)`);
  }
  return f;
}

export function clientFor(
  host: string | undefined,
  env: Io["env"],
  tls: { cacert?: string; cert?: string; key?: string } = {},
): ApiClient {
  const target = host ?? env.FLEET_HOST ?? DEFAULT_HOST;
  // A unix socket needs no TLS: FLEET_CERT_PATH applies to tcp:// managers only.
  const material = /^(unix:\/\/|\/|\.)/.test(target) ? undefined : loadClientTls(tls, env);
  return new ApiClient(target, material);
}

/** Turns `--filter k=v` into query parameters, refusing keys the endpoint does not know. */
export function filterQuery(filters: string[], known: readonly string[]): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of filters) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new UsageError(`--filter "${f}": expected KEY=VALUE`);
    const key = f.slice(0, eq);
    if (!known.includes(key)) {
      throw new UsageError(`--filter: unknown key "${key}" (known: ${known.join(", ")})`);
    }
    q.append(key, f.slice(eq + 1));
  }
  return q;
}

export function withQuery(path: string, q: URLSearchParams): string {
  const s = q.toString();
  return s === "" ? path : `${path}?${s}`;
}

export const enc = encodeURIComponent;
