// The edge agent's entry point (bundled to dist/edge-agent.mjs):
//   edge-agent join --token T --data-dir D [--label k=v…] [--hostname H] MANAGER_HOST:PORT…
//   edge-agent run --data-dir D [--cluster C --node-id N --broker URL…] [--label k=v…]
//                  [--config FILE] [--heartbeat-ms MS] [--offline-after-ms MS] [--poll-ms MS]
//                  [--docker-socket PATH] [--hostname H] [--tls-cert F --tls-key F --tls-ca F]
//                  [--token T] [--gossip on|off]
//   edge-agent peers --data-dir D [--json]   (the peer table the running agent writes)
// `run` with a join token (flag or `joinToken` in the config) and no certificates in the data
// dir joins first through its brokers (a freshly flashed image), retrying while no manager can
// be reached. Containers keep running when the agent stops.

import { setFlagsFromString } from "node:v8";
import { limits } from "../core/limits.ts";
import { AGENT_VERSION, startAgent } from "./agent.ts";
import { ConfigError, loadConfig, type PendingJoin, pendingJoin, saveConfig } from "./config.ts";
import {
  CRYPTO_COMMAND,
  CryptoChildError,
  childCrypto,
  cryptoCommand,
  joinInChild,
} from "./crypto-child.ts";
import { DockerExecutor } from "./executor/docker.ts";
import { peersCommand } from "./gossip-peers.ts";
import { parseJoinArgs } from "./join/args.ts";
import { hasCerts } from "./join/certs.ts";
import { JoinError } from "./join/errors.ts";
import { setRenewalCrypto } from "./renewal.ts";
import { backoffDelay } from "./session/backoff.ts";

const USAGE = `usage: edge-agent join --token T --data-dir D [--label k=v…] [--hostname H]
       [--timeout-ms MS] [--rounds N] MANAGER_HOST[:PORT]…
       edge-agent run --data-dir D [--cluster C --node-id N --broker URL [--broker…]]
       [--label k=v…] [--config FILE] [--heartbeat-ms MS] [--offline-after-ms MS] [--poll-ms MS]
       [--docker-socket PATH] [--hostname H] [--tls-cert F --tls-key F --tls-ca F] [--token T]
       [--gossip on|off]
       [--join-broker URL…]
       edge-agent peers --data-dir D [--json]   (the peers heard over sealed gossip)
       edge-agent version`;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * Joining builds a csr and checks the CA's chain: X.509/ASN.1 and signature code (~10 MB once
 * evaluated) that a joined agent never needs at start, so it is loaded only here (esbuild keeps
 * it in the one bundle, evaluated on first use).
 */
const enrolAgent: typeof import("./join/enrol.ts").enrolAgent = async (o) =>
  (await import("./join/enrol.ts")).enrolAgent(o);

async function join(argv: string[]): Promise<number> {
  const r = await enrolAgent({ ...parseJoinArgs(argv), log });
  console.log(`edge-agent: joined cluster ${r.clusterId} as node ${r.nodeId} (${r.role})`);
  return 0;
}

/** The longest a first-boot join child may take (its own attempts are bounded: join/client.ts). */
const JOIN_CHILD_TIMEOUT_MS = 10 * 60_000;

/**
 * First boot: join before running, in a child process (crypto-child.ts) so that the agent that
 * then runs never loads the csr and chain code. The network may not be up yet, so no manager reachable
 * (or answering) is retried with backoff until it works or the agent is stopped; anything else
 * (wrong token, another CA, a refusal) ends the process with the JoinError.
 */
async function joinFirst(first: PendingJoin): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await joinInChild(first, { timeoutMs: JOIN_CHILD_TIMEOUT_MS });
      log(`edge-agent: joined cluster ${r.clusterId} as node ${r.nodeId}`);
      return;
    } catch (err) {
      const again =
        err instanceof CryptoChildError ||
        (err instanceof JoinError && (err.code === "unreachable" || err.code === "timeout"));
      if (!again) throw err;
      const b = { baseMs: 1000, maxMs: limits.agentBackoffMaxMs };
      const ms = backoffDelay(attempt, b, Math.random);
      log(`edge-agent: ${err.message}; joining again in ${ms} ms`);
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}

async function run(argv: string[]): Promise<number | undefined> {
  // Idle RSS budget (DESIGN §5): once a function gets hot (after ~2 min here) V8's optimising
  // compiler pages ~4 MB of the node binary in for good. The agent's loops wait on I/O; on
  // Sparkplug and the interpreter they used the same CPU (polling every 100 ms, docs/agent.md).
  setFlagsFromString("--no-opt");
  const first = pendingJoin(argv, hasCerts);
  if (first) await joinFirst(first);
  const config = loadConfig(argv);
  saveConfig(config);
  // A renewal's csr and check run in a child: the X.509 code never stays loaded here.
  setRenewalCrypto(childCrypto());
  const executor = new DockerExecutor(
    config.dockerSocket ? { socketPath: config.dockerSocket } : {},
  );
  const agent = startAgent(config, executor, {
    log,
    onConnected: (broker) => console.log(`edge-agent: connected to ${broker}`),
  });
  const bye = (signal: string) => {
    log(`edge-agent: ${signal}, stopping (containers keep running)`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => bye("SIGTERM"));
  process.once("SIGINT", () => bye("SIGINT"));
  return undefined;
}

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === "version") {
    console.log(AGENT_VERSION);
    return 0;
  }
  if (command === "join") return join(rest);
  // Hidden: one crypto request on stdin, its answer on stdout (crypto-child.ts).
  if (command === CRYPTO_COMMAND) return cryptoCommand(log);
  if (command === "peers")
    return peersCommand(
      rest,
      (s) => console.log(s),
      (s) => console.error(s),
    );
  if (command === "run") return run(rest);
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    if (err instanceof JoinError) {
      console.error(`edge-agent: ${err.message} [${err.code}]`);
      process.exitCode = 1;
    } else if (err instanceof ConfigError) {
      console.error(`edge-agent: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else throw err;
  },
);
