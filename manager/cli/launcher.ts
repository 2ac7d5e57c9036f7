// `fleet init`, `fleet join` and `fleet leave` start or stop the manager daemon on this host.
// DaemonLauncher is what they call; the CLI only parses flags, calls it and prints what
// happened. daemon-launcher.ts is the real one (the daemon detached, log and pid file in the
// data dir).
//
// A launcher is found, in order: one registered with `registerDaemonLauncher` (tests), the
// module named by FLEET_LAUNCHER (its default export, or its `launcher` export), or the
// built-in daemon-launcher.ts.

import { pathToFileURL } from "node:url";
import { CliError } from "./client.ts";

export interface InitOptions {
  dataDir: string;
  /** Raft/peer listen address (host:port). */
  listenAddr: string;
  /** Address other managers and agents use to reach this one. */
  advertiseAddr?: string;
  /** Broker listen address for agents. */
  brokerAddr?: string;
  /** API socket path and optional TCP address. */
  apiSocket: string;
  apiAddr?: string;
  forceNewCluster: boolean;
  clusterName?: string;
  /** External broker mode: the daemon's --broker URL (no embedded broker). */
  broker?: string;
  /** Development only: plain TCP on loopback (the daemon's --insecure). */
  insecure?: boolean;
  caCurve?: "ed25519" | "p256";
}

export interface JoinOptions {
  dataDir: string;
  token: string;
  /** The managers to contact (host:port). */
  remotes: string[];
  listenAddr: string;
  advertiseAddr?: string;
  /** Broker listen address (host:port) of this manager. */
  brokerAddr?: string;
  apiSocket: string;
  /** External broker mode: the daemon's --broker URL (no embedded broker). */
  broker?: string;
  insecure?: boolean;
}

export interface LeaveOptions {
  dataDir: string;
  force: boolean;
  /** Where to say what could not be cleaned up (an edge agent's containers). */
  warn?: (line: string) => void;
}

export interface InitResult {
  nodeId: string;
  clusterId: string;
  /** The worker join command to print, when known. */
  workerToken?: string;
  managerToken?: string;
  /** The broker address joining nodes give (host:port). */
  joinAddr?: string;
}

export interface JoinResult {
  nodeId: string;
  role: "worker" | "manager";
}

export interface DaemonLauncher {
  init(o: InitOptions): Promise<InitResult>;
  join(o: JoinOptions): Promise<JoinResult>;
  leave(o: LeaveOptions): Promise<void>;
}

let registered: DaemonLauncher | undefined;

export function registerDaemonLauncher(l: DaemonLauncher): void {
  registered = l;
}

export async function findLauncher(
  env: Record<string, string | undefined>,
): Promise<DaemonLauncher> {
  if (registered) return registered;
  const path = env.FLEET_LAUNCHER;
  if (path) {
    let mod: { default?: DaemonLauncher; launcher?: DaemonLauncher };
    try {
      mod = await import(pathToFileURL(path).href);
    } catch (err) {
      throw new CliError(`FLEET_LAUNCHER=${path} could not be loaded: ${(err as Error).message}`);
    }
    const l = mod.launcher ?? mod.default;
    if (l && typeof l.init === "function") return l;
    throw new CliError(`FLEET_LAUNCHER=${path} exports no launcher (init, join, leave)`);
  }
  const builtIn = await import("./daemon-launcher.ts");
  return builtIn.launcher;
}
