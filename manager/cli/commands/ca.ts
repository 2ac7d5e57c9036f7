// The certificate lifecycle verbs (docs/security.md): `fleet ca issue-admin`, `fleet
// broker-config mosquitto`, `fleet unlock`, `fleet unlock-key [--rotate]`. Private keys are made
// here and written only to the operator's directory (0600); the manager sees public keys only.

import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { toHex } from "../../../core/crypto/bytes.ts";
import {
  type Curve,
  generateKeyPair,
  type KeyPair,
  keySeedBytes,
  privateKeyToPem,
} from "../../../core/crypto/keys.ts";
import { mosquittoConfig } from "../../ca/mosquitto-config.ts";
import { bool, list, type Parsed, str, UsageError } from "../args.ts";
import { type CliContext, type Command, quietFlag } from "../command.ts";
import { watchBroker } from "./broker-watch.ts";

const curveFlag = {
  name: "curve",
  kind: "string" as const,
  value: "ed25519|p256",
  help: "key curve (p256 for TLS stacks without Ed25519)",
};

function newKey(p: Parsed): KeyPair {
  const curve = (str(p, "curve") ?? "ed25519") as Curve;
  if (curve !== "ed25519" && curve !== "p256") throw new UsageError("--curve: ed25519 or p256");
  return generateKeyPair(curve, new Uint8Array(randomBytes(keySeedBytes(curve))));
}

/** Writes each file whole (tmp + rename); keys 0600. */
function writeFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    const secret = name.endsWith(".key") || name === "key.pem";
    writeFileSync(`${path}.tmp`, text, { mode: secret ? 0o600 : 0o644 });
    renameSync(`${path}.tmp`, path);
  }
}

function outDir(p: Parsed, fallback: string): string {
  return resolve(str(p, "out") ?? fallback);
}

async function issueAdmin(c: CliContext, p: Parsed) {
  const name = p.positionals[0]!;
  const key = newKey(p);
  const r = await c
    .client()
    .call("POST", "/v1/ca/admin", { name, publicKey: toHex(key.publicKey) });
  const dir = outDir(p, name);
  // Docker's DOCKER_CERT_PATH layout: ca.pem, cert.pem, key.pem.
  writeFiles(dir, { "ca.pem": r.caPem, "cert.pem": r.certPem, "key.pem": privateKeyToPem(key) });
  const until = new Date(r.notAfterMs).toISOString();
  c.io.out(`Admin certificate for ${name} (cluster ${r.clusterId}) until ${until} in ${dir}`);
  return 0;
}

function sans(p: Parsed): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const s of list(p, "san"))
    (/^[\d.]+$|:/.test(s) ? ipAddresses : dnsNames).push(s.replace(/^\[|\]$/g, ""));
  return { dnsNames, ipAddresses };
}

function port(p: Parsed, name: string, fallback?: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new UsageError(`--${name}: a port 1-65535`);
  return n;
}

async function brokerConfig(c: CliContext, p: Parsed) {
  if (p.positionals[0] !== "mosquitto")
    throw new UsageError(`"${p.positionals[0]}": only mosquitto is supported`);
  if (str(p, "reload-cmd") !== undefined && !bool(p, "watch"))
    throw new UsageError("--reload-cmd goes with --watch");
  const name = str(p, "name") ?? "mosquitto";
  const key = newKey(p);
  const names = sans(p);
  if (names.dnsNames.length + names.ipAddresses.length === 0) names.ipAddresses.push("127.0.0.1");
  const r = await c
    .client()
    .call("POST", "/v1/ca/broker", { name, publicKey: toHex(key.publicKey), ...names });
  const dir = outDir(p, "mosquitto");
  const files = {
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "broker.pem"),
    keyFile: join(dir, "broker.key"),
    aclFile: join(dir, "acl"),
    crlFile: join(dir, "crl.pem"),
  };
  const joinPort = port(p, "join-port");
  const { conf, acl } = mosquittoConfig({
    clusterId: r.clusterId,
    port: port(p, "port", 8883)!,
    ...(str(p, "bind") ? { bindAddress: str(p, "bind")! } : {}),
    ...files,
    managers: r.managers,
    admins: list(p, "admin"),
    removed: r.removed ?? [],
    ...(joinPort !== undefined ? { joinPort } : {}),
  });
  writeFiles(dir, {
    "ca.pem": r.caPem,
    // Leaf + root: a joining node pins the root by the digest in its token against the chain
    // the broker presents (contract 3), as with the embedded brokers.
    "broker.pem": r.certPem + r.caPem,
    "broker.key": privateKeyToPem(key),
    "crl.pem": r.crlPem,
    acl,
    "mosquitto.conf": conf,
  });
  c.io.out(`mosquitto configuration for cluster ${r.clusterId} in ${dir}:`);
  c.io.out(`    mosquitto -c ${join(dir, "mosquitto.conf")}`);
  if (!bool(p, "watch")) {
    c.io.out(
      "Regenerate (and SIGHUP mosquitto) when managers change, on every revocation (crl.pem), " +
        "and before the CRL's nextUpdate (7 days) — or keep `--watch --reload-cmd CMD` running.",
    );
    return 0;
  }
  c.io.out("Watching the cluster: acl and crl.pem follow managers, removals and revocations.");
  const reloadCmd = str(p, "reload-cmd");
  return watchBroker(
    c,
    { dir, admins: list(p, "admin"), ...(reloadCmd ? { reloadCmd } : {}) },
    // Nothing counts as written yet: the first pass rewrites acl and crl.pem and runs the
    // reload command, so a broker already running picks up these files.
    "",
    c.signal,
  );
}

function readKey(p: Parsed): string {
  const given = str(p, "key");
  if (given !== undefined) return given.trim();
  let text = "";
  try {
    text = readFileSync(0, "utf8");
  } catch {
    // no stdin
  }
  const line = text.split("\n")[0]?.trim() ?? "";
  if (line === "") throw new UsageError("give the unlock key with --key KEY or on stdin");
  return line;
}

async function unlock(c: CliContext, p: Parsed) {
  await c.client().call("POST", "/v1/ca/unlock", { key: readKey(p) });
  c.io.out("Manager unlocked: it can act as the cluster's CA again.");
  return 0;
}

async function unlockKey(c: CliContext, p: Parsed) {
  const client = c.client();
  const r = bool(p, "rotate")
    ? await client.call("POST", "/v1/ca/unlock-key/rotate")
    : await client.call("GET", "/v1/ca/unlock-key");
  if (bool(p, "quiet")) {
    c.io.out(r.unlockKey);
    return 0;
  }
  if (bool(p, "rotate")) c.io.out("Successfully rotated the unlock key.\n");
  c.io.out("To unlock a restarted manager, run `fleet unlock` with this key:\n");
  c.io.out(`    ${r.unlockKey}\n`);
  c.io.out(
    "Keep it somewhere safe: without it a restarted manager cannot act as CA. Other managers " +
      "keep the key they were unlocked with until restarted; after a rotation unlock each " +
      "with the new key.",
  );
  return 0;
}

/** `fleet cluster update --autolock=true|false` (called from commands/cluster.ts). */
export async function setAutolock(c: CliContext, enable: boolean): Promise<void> {
  const r = await c.client().call("POST", `/v1/ca/autolock?enable=${enable}`);
  if (!enable) {
    c.io.out("Autolock off: the CA key is stored unsealed.");
    return;
  }
  if (!r.unlockKey) return;
  c.io.out("Autolock on. To unlock a restarted manager, run `fleet unlock` with this key:\n");
  c.io.out(`    ${r.unlockKey}\n`);
  c.io.out("It is shown now and by `fleet unlock-key`; the cluster never stores it.");
}

export const caCommands: Command[] = [
  {
    words: ["ca", "issue-admin"],
    usage: "NAME",
    summary: "Issue an admin (operator) certificate for the remote CLI and monitor",
    flags: [
      {
        name: "out",
        kind: "string",
        value: "DIR",
        help: "where to write ca.pem, cert.pem, key.pem",
      },
      curveFlag,
    ],
    args: { min: 1, max: 1 },
    run: issueAdmin,
  },
  {
    words: ["broker-config"],
    usage: "mosquitto",
    summary: "Write an external mosquitto's configuration, ACL, CRL and TLS files",
    flags: [
      { name: "out", kind: "string", value: "DIR", help: "output directory (./mosquitto)" },
      { name: "port", kind: "string", value: "PORT", help: "TLS listener port (8883)" },
      { name: "join-port", kind: "string", value: "PORT", help: "listener for join sessions" },
      { name: "bind", kind: "string", value: "ADDR", help: "listen address (0.0.0.0)" },
      { name: "name", kind: "string", value: "NAME", help: "the broker certificate's CN" },
      { name: "san", kind: "list", value: "HOST", help: "IP or DNS name clients dial (repeat)" },
      { name: "admin", kind: "list", value: "NAME", help: "admin certificate names allowed" },
      {
        name: "watch",
        kind: "bool",
        help: "keep running: rewrite acl and crl.pem when managers, removals or revocations change",
      },
      {
        name: "reload-cmd",
        kind: "string",
        value: "CMD",
        help: "with --watch: run after each rewrite (sh -c), e.g. 'kill -HUP $(pidof mosquitto)'",
      },
      curveFlag,
    ],
    args: { min: 1, max: 1 },
    run: brokerConfig,
  },
  {
    words: ["unlock"],
    usage: "",
    summary: "Unlock a restarted manager of an autolocked cluster",
    flags: [{ name: "key", kind: "string", value: "KEY", help: "the unlock key (else stdin)" }],
    args: { min: 0, max: 0 },
    run: unlock,
  },
  {
    words: ["unlock-key"],
    usage: "",
    summary: "Show or rotate the unlock key of an autolocked cluster",
    flags: [quietFlag, { name: "rotate", kind: "bool", help: "seal the CA key under a new key" }],
    args: { min: 0, max: 0 },
    run: unlockKey,
  },
];
