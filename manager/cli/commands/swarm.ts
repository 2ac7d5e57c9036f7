// `fleet init`, `fleet join`, `fleet leave`: the client side. They parse and check flags and
// hand over to the DaemonLauncher (launcher.ts; daemon-launcher.ts runs the manager daemon
// detached on this host). `fleet join-token` is in cluster.ts.

import { bool, type Parsed, str, UsageError } from "../args.ts";
import type { CliContext, Command } from "../command.ts";

const DATA_DIR = "/var/lib/fleet";

function dataDir(p: Parsed): string {
  return str(p, "data-dir") ?? DATA_DIR;
}

function addr(flag: string, v: string | undefined, fallback: string): string {
  const a = v ?? fallback;
  if (!/^[^\s:]+:\d{1,5}$/.test(a) && !/^\[[^\]]+\]:\d{1,5}$/.test(a)) {
    throw new UsageError(`--${flag}: "${a}" is not HOST:PORT`);
  }
  return a;
}

function curve(p: Parsed): "ed25519" | "p256" | undefined {
  const v = str(p, "ca-curve");
  if (v === undefined || v === "ed25519" || v === "p256") return v;
  throw new UsageError(`--ca-curve: expected ed25519 or p256, got "${v}"`);
}

async function init(c: CliContext, p: Parsed) {
  const dir = dataDir(p);
  const launcher = await c.launcher();
  const brokerAddr = str(p, "broker-addr");
  const caCurve = curve(p);
  const r = await launcher.init({
    dataDir: dir,
    listenAddr: addr("listen-addr", str(p, "listen-addr"), "0.0.0.0:4242"),
    advertiseAddr: str(p, "advertise-addr"),
    ...(brokerAddr ? { brokerAddr: addr("broker-addr", brokerAddr, brokerAddr) } : {}),
    apiSocket: str(p, "api-socket") ?? `${dir}/fleet.sock`,
    apiAddr: str(p, "api-addr"),
    forceNewCluster: bool(p, "force-new-cluster"),
    clusterName: str(p, "name"),
    ...(str(p, "broker") ? { broker: externalBroker(str(p, "broker")!) } : {}),
    ...(bool(p, "insecure") ? { insecure: true } : {}),
    ...(caCurve ? { caCurve } : {}),
  });
  c.io.out(
    `Cluster initialized: current node (${r.nodeId}) is now a manager of cluster ${r.clusterId}.\n`,
  );
  const where = r.joinAddr ?? str(p, "advertise-addr") ?? "THIS-HOST:1883";
  if (r.workerToken) {
    c.io.out("To add a worker to this cluster, run the following command on the board:\n");
    c.io.out(
      `    edge-agent join --token ${r.workerToken} --data-dir /var/lib/fleet-agent ${where}\n`,
    );
  }
  if (r.managerToken) {
    c.io.out("To add a manager to this cluster, run the following command on that host:\n");
    c.io.out(`    fleet join --token ${r.managerToken} ${where}\n`);
  } else {
    c.io.out("To add a manager, run 'fleet join-token manager' and follow the instructions.");
  }
  return 0;
}

/** `--broker`: an MQTT URL with a host and a port (the daemon refuses plain mqtt:// unless
 * --insecure). */
function externalBroker(v: string): string {
  const m = /^(mqtts?):\/\/([^/:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(v);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--broker: "${v}" is not mqtts://HOST:PORT`);
  return v;
}

async function join(c: CliContext, p: Parsed) {
  const token = str(p, "token");
  if (!token)
    throw new UsageError(
      "--token is required (get one with `fleet join-token worker` on a manager)",
    );
  if (!/^FLT1-[0-9a-f]+-[0-9a-z]+$/.test(token)) {
    throw new UsageError("--token: not a fleet join token (it looks like FLT1-<digest>-<secret>)");
  }
  const remotes = p.positionals.map((r) => addr("remote", r, r));
  const dir = dataDir(p);
  const r = await (await c.launcher()).join({
    dataDir: dir,
    token,
    remotes,
    listenAddr: addr("listen-addr", str(p, "listen-addr"), "0.0.0.0:4242"),
    advertiseAddr: str(p, "advertise-addr"),
    ...(str(p, "broker-addr")
      ? { brokerAddr: addr("broker-addr", str(p, "broker-addr"), "") }
      : {}),
    apiSocket: str(p, "api-socket") ?? `${dir}/fleet.sock`,
    ...(str(p, "broker") ? { broker: externalBroker(str(p, "broker")!) } : {}),
    ...(bool(p, "insecure") ? { insecure: true } : {}),
  });
  c.io.out(`This node (${r.nodeId}) joined the cluster as a ${r.role}.`);
  return 0;
}

async function leave(c: CliContext, p: Parsed) {
  await (await c.launcher()).leave({
    dataDir: dataDir(p),
    force: bool(p, "force"),
    warn: (line) => c.io.err(line),
  });
  c.io.out("Node left the cluster.");
  return 0;
}

const externalBrokerFlag = {
  name: "broker",
  kind: "string" as const,
  value: "URL",
  help: "external mode: use this MQTT broker (mqtts://HOST:PORT) instead of an embedded one",
};

const insecureFlag = {
  name: "insecure",
  kind: "bool" as const,
  help: "development only: plain TCP, loopback addresses only",
};

const dataDirFlag = {
  name: "data-dir",
  kind: "string" as const,
  value: "DIR",
  help: `state directory (default ${DATA_DIR})`,
};

export const swarmCommands: Command[] = [
  {
    words: ["init"],
    usage: "[OPTIONS]",
    summary: "Create a cluster and run its first manager on this host",
    flags: [
      dataDirFlag,
      {
        name: "listen-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "Raft listen address (default 0.0.0.0:4242)",
      },
      {
        name: "advertise-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "address others reach this manager on",
      },
      {
        name: "broker-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "MQTT broker listen address",
      },
      {
        name: "api-socket",
        kind: "string",
        value: "PATH",
        help: "API unix socket (default DIR/fleet.sock)",
      },
      {
        name: "api-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "API TCP address for remote operators",
      },
      { name: "name", kind: "string", value: "NAME", help: "cluster name" },
      {
        name: "ca-curve",
        kind: "string",
        value: "CURVE",
        help: "root CA key: ed25519 (default) or p256 (boards whose TLS lacks Ed25519)",
      },
      externalBrokerFlag,
      insecureFlag,
      {
        name: "force-new-cluster",
        kind: "bool",
        help: "restart a lone survivor as a one-manager cluster",
      },
    ],
    args: { min: 0, max: 0 },
    run: init,
  },
  {
    words: ["join"],
    usage: "--token TOKEN HOST:PORT [HOST:PORT...]",
    summary: "Join a cluster as a manager (manager token) or an agent (worker token)",
    flags: [
      dataDirFlag,
      { name: "token", kind: "string", value: "TOKEN", help: "join token from `fleet join-token`" },
      { name: "listen-addr", kind: "string", value: "HOST:PORT", help: "Raft listen address" },
      {
        name: "advertise-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "address others reach this node on",
      },
      {
        name: "broker-addr",
        kind: "string",
        value: "HOST:PORT",
        help: "MQTT broker listen address",
      },
      {
        name: "api-socket",
        kind: "string",
        value: "PATH",
        help: "API unix socket (default DIR/fleet.sock)",
      },
      externalBrokerFlag,
      insecureFlag,
    ],
    args: { min: 1 },
    run: join,
  },
  {
    words: ["leave"],
    usage: "[--force]",
    summary: "Leave the cluster: demote this manager, stop it and remove its state",
    flags: [
      dataDirFlag,
      {
        name: "force",
        short: "f",
        kind: "bool",
        help: "leave even as the last manager or without quorum",
      },
    ],
    args: { min: 0, max: 0 },
    run: leave,
  },
];
