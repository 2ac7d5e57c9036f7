// `fleet init`, `fleet join`, `fleet leave`: the client side. They parse and check flags and
// hand over to the DaemonLauncher (launcher.ts), which the manager daemon implements.

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

async function init(c: CliContext, p: Parsed) {
  const dir = dataDir(p);
  const launcher = await c.launcher();
  const r = await launcher.init({
    dataDir: dir,
    listenAddr: addr("listen-addr", str(p, "listen-addr"), "0.0.0.0:4242"),
    advertiseAddr: str(p, "advertise-addr"),
    brokerAddr: str(p, "broker-addr"),
    apiSocket: str(p, "api-socket") ?? `${dir}/fleet.sock`,
    apiAddr: str(p, "api-addr"),
    forceNewCluster: bool(p, "force-new-cluster"),
    clusterName: str(p, "name"),
  });
  c.io.out(
    `Cluster initialized: current node (${r.nodeId}) is now a manager of cluster ${r.clusterId}.\n`,
  );
  if (r.workerToken) {
    c.io.out("To add a worker to this cluster, run the following command:\n");
    c.io.out(
      `    fleet join --token ${r.workerToken} ${str(p, "advertise-addr") ?? "THIS-HOST:4242"}\n`,
    );
  }
  c.io.out("To add a manager, run 'fleet join-token manager' and follow the instructions.");
  return 0;
}

async function join(c: CliContext, p: Parsed) {
  const token = str(p, "token");
  if (!token)
    throw new UsageError(
      "--token is required (get one with `fleet join-token worker` on a manager)",
    );
  if (!/^FLT1-[0-9a-f]+-[a-z2-7]+$/.test(token)) {
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
    apiSocket: str(p, "api-socket") ?? `${dir}/fleet.sock`,
  });
  c.io.out(`This node (${r.nodeId}) joined the cluster as a ${r.role}.`);
  return 0;
}

async function leave(c: CliContext, p: Parsed) {
  await (await c.launcher()).leave({ dataDir: dataDir(p), force: bool(p, "force") });
  c.io.out("Node left the cluster.");
  return 0;
}

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
        name: "api-socket",
        kind: "string",
        value: "PATH",
        help: "API unix socket (default DIR/fleet.sock)",
      },
    ],
    args: { min: 1 },
    run: join,
  },
  {
    words: ["leave"],
    usage: "[--force]",
    summary: "Leave the cluster (a manager must be demoted first, or use --force)",
    flags: [
      dataDirFlag,
      { name: "force", short: "f", kind: "bool", help: "leave even as a manager" },
    ],
    args: { min: 0, max: 0 },
    run: leave,
  },
];
