// `edge-agent join --token T --data-dir D [--label k=v…] [--hostname H] [--timeout-ms MS]
// [--rounds N] MANAGER…`: flags anywhere, the rest are manager broker addresses.

import { ConfigError } from "../config.ts";
import type { EnrolOptions } from "./enrol.ts";

const FLAGS = new Set(["token", "data-dir", "label", "hostname", "timeout-ms", "rounds"]);

export function parseJoinArgs(argv: string[]): EnrolOptions {
  const flags = new Map<string, string[]>();
  const managers: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("--")) {
      managers.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!FLAGS.has(name)) throw new ConfigError(`unknown flag --${name}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  const one = (k: string) => flags.get(k)?.at(-1);
  const token = one("token");
  const dataDir = one("data-dir");
  if (!token) throw new ConfigError("--token is required (`fleet join-token worker`)");
  if (!dataDir) throw new ConfigError("--data-dir is required");
  if (managers.length === 0) throw new ConfigError("give at least one MANAGER_HOST:PORT");
  const labels: Record<string, string> = {};
  for (const l of flags.get("label") ?? []) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--label ${JSON.stringify(l)}: expected key=value`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const o: EnrolOptions = { token, dataDir, managers, labels };
  const host = one("hostname");
  if (host) o.hostname = host;
  const n = (k: string, min: number) => {
    const v = one(k);
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min)
      throw new ConfigError(`--${k}: expected an integer >= ${min}`);
    return x;
  };
  const timeout = n("timeout-ms", 100);
  if (timeout !== undefined) o.responseTimeoutMs = timeout;
  const rounds = n("rounds", 1);
  if (rounds !== undefined) o.rounds = rounds;
  return o;
}
