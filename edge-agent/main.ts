// The edge agent's entry point (bundled to dist/edge-agent.mjs):
//   edge-agent run --data-dir D [--cluster C --node-id N --broker URL…] [--label k=v…]
//                  [--config FILE] [--heartbeat-ms MS] [--offline-after-ms MS] [--poll-ms MS]
//                  [--docker-socket PATH] [--hostname H] [--tls-cert F --tls-key F --tls-ca F]
// `join` arrives with the security work. Containers keep running when the agent stops.

import { AGENT_VERSION, startAgent } from "./agent.ts";
import { ConfigError, loadConfig, saveConfig } from "./config.ts";
import { DockerExecutor } from "./executor/docker.ts";

const USAGE = `usage: edge-agent run --data-dir D --cluster C --node-id N --broker URL [--broker…]
       [--label k=v…] [--config FILE] [--heartbeat-ms MS] [--offline-after-ms MS] [--poll-ms MS]
       [--docker-socket PATH] [--hostname H] [--tls-cert F --tls-key F --tls-ca F]
       edge-agent version`;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function main(argv: string[]): number | undefined {
  const [command, ...rest] = argv;
  if (command === "version") {
    console.log(AGENT_VERSION);
    return 0;
  }
  if (command !== "run") {
    console.error(command === "join" ? "edge-agent: join is not implemented yet" : USAGE);
    return 2;
  }
  const config = loadConfig(rest);
  saveConfig(config);
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

try {
  const code = main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`edge-agent: ${err.message}\n${USAGE}`);
  process.exitCode = 2;
}
