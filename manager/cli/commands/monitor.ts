// `fleet monitor [FILTER]`: a live view of the fleet's MQTT topics. FILTER is an MQTT topic
// filter relative to `fleet/<cluster>/` (`n/+/hb`, `events/#`), or a full one starting with
// `fleet/`. One line per message: time, topic, type, summary; `--json` prints JSON lines.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import mqtt from "mqtt";
import { MANAGER_SERVER_NAME } from "../../../core/crypto/identity.ts";
import { TOPIC_ROOT } from "../../../core/topics.ts";
import { bool, type Parsed, str, UsageError } from "../args.ts";
import { CliError } from "../client.ts";
import type { CliContext, Command } from "../command.ts";
import { decodePayload, toJsonLine } from "../monitor-format.ts";
import { parseInt10 } from "../units.ts";

const CONNECT_TIMEOUT_MS = 5000;

async function clusterId(c: CliContext, p: Parsed): Promise<string> {
  const given = str(p, "cluster");
  if (given) return given;
  try {
    return (await c.client().call("GET", "/v1/info")).clusterId;
  } catch (err) {
    throw new CliError(
      "fleet monitor needs the cluster id: pass --cluster ID " +
        `(no manager answered: ${(err as Error).message})`,
    );
  }
}

function topicFilter(cluster: string, filter: string | undefined): string {
  if (!filter) return `${TOPIC_ROOT}/${cluster}/#`;
  if (filter.startsWith(`${TOPIC_ROOT}/`)) return filter;
  return `${TOPIC_ROOT}/${cluster}/${filter.replace(/^\//, "")}`;
}

/**
 * `--ca/--cert/--key` for an mqtts:// broker (the fleet's brokers do mutual TLS: an admin
 * certificate reads the event and state topics). Without them, the API's --tlscacert/
 * --tlscert/--tlskey or FLEET_CERT_PATH (ca.pem, cert.pem, key.pem) serve for an mqtts broker.
 */
function tlsOptions(p: Parsed, broker: string, env: CliContext["io"]["env"]) {
  const dir = env.FLEET_CERT_PATH || undefined;
  const secure = /^(mqtts|wss):/.test(broker);
  const fallback = (flag: string, file: string) =>
    secure ? (str(p, flag) ?? (dir && join(dir, file))) : undefined;
  const files = {
    ca: str(p, "ca") ?? fallback("tlscacert", "ca.pem"),
    cert: str(p, "cert") ?? fallback("tlscert", "cert.pem"),
    key: str(p, "key") ?? fallback("tlskey", "key.pem"),
  };
  const given = Object.entries(files).filter(([, v]) => v !== undefined);
  if (given.length === 0) return {};
  if (!/^(mqtts|wss):/.test(broker)) {
    throw new UsageError("--ca, --cert and --key need an mqtts:// broker URL");
  }
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const out: Record<string, Buffer> = {};
  for (const [k, path] of given) {
    try {
      out[k] = readFileSync(path!);
    } catch (err) {
      throw new CliError(`--${k} ${path}: ${(err as Error).message}`);
    }
  }
  return {
    ...out,
    // A fleet manager's broker is named fleet-manager (its certificate's SAN), whatever address
    // it is reached at; an external broker by its own host name.
    checkServerIdentity: (host: string, cert: PeerCertificate) =>
      checkServerIdentity(host, cert) && checkServerIdentity(MANAGER_SERVER_NAME, cert),
  };
}

async function monitor(c: CliContext, p: Parsed) {
  const broker = str(p, "broker") ?? c.io.env.FLEET_BROKER ?? "mqtt://127.0.0.1:1883";
  const max =
    str(p, "count") === undefined
      ? Number.POSITIVE_INFINITY
      : parseInt10("count", str(p, "count")!, 1);
  const filter = topicFilter(await clusterId(c, p), p.positionals[0]);
  const asJson = bool(p, "json");
  const client = mqtt.connect(broker, {
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    clientId: `fleet-monitor-${process.pid}-${Date.now().toString(36)}`,
    protocolVersion: 4,
    ...tlsOptions(p, broker, c.io.env),
  });
  let seen = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) =>
        reject(
          new CliError(`cannot reach the MQTT broker at ${broker}: ${why} (use --broker URL)`),
        );
      client.once("error", (e) => fail(e.message));
      client.once("close", () => fail("connection closed"));
      client.once("connect", () => {
        client.removeAllListeners("close");
        client.subscribe(filter, { qos: 0 }, (err) =>
          err ? reject(new CliError(err.message)) : resolve(),
        );
      });
    });
    // On stderr even with --json: stdout stays machine-readable, and scripts can wait for it.
    c.io.err(`fleet monitor: ${filter} on ${broker} (Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      c.signal.addEventListener("abort", () => resolve());
      client.on("close", () => resolve());
      client.on("message", (topic, payload, packet) => {
        const d = decodePayload(topic, payload);
        const time = new Date(c.io.now()).toISOString();
        if (asJson) {
          c.io.out(
            toJsonLine({
              time,
              topic,
              type: d.type,
              retained: packet.retain,
              payload: d.payload,
              summary: d.summary,
            }),
          );
        } else c.io.out(`${time.slice(11, 23)}  ${topic}  ${d.type}  ${d.summary}`);
        if (++seen >= max) resolve();
      });
    });
  } finally {
    await client.endAsync(true).catch(() => {});
  }
  return 0;
}

export const monitorCommand: Command = {
  words: ["monitor"],
  usage: "[FILTER]",
  summary: "Watch the fleet's MQTT topics, CBOR decoded, one line per message",
  flags: [
    {
      name: "broker",
      kind: "string",
      value: "URL",
      help: "broker URL (default $FLEET_BROKER or mqtt://127.0.0.1:1883)",
    },
    {
      name: "cluster",
      kind: "string",
      value: "ID",
      help: "cluster id (default: asked from the manager)",
    },
    { name: "ca", kind: "string", value: "FILE", help: "CA certificate (PEM) of an mqtts broker" },
    { name: "cert", kind: "string", value: "FILE", help: "client certificate (PEM)" },
    { name: "key", kind: "string", value: "FILE", help: "client key (PEM)" },
    { name: "json", kind: "bool", help: "print JSON lines" },
    { name: "count", kind: "string", value: "N", help: "exit after N messages" },
  ],
  args: { min: 0, max: 1 },
  run: monitor,
};
