// The agent's join: certificates and config written so that the agent runs from the data dir
// alone (its session reaches the broker with the new certificate, verified as fleet-manager);
// a failed join writes nothing; a joined data dir is not joined again.

import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { caDigest } from "../../core/crypto/identity.ts";
import { testBytes, testRoot } from "../../core/crypto/testing.ts";
import { formatJoinToken } from "../../core/crypto/token.ts";
import { StandInManager } from "../../test/support/join-standin.ts";
import { startAgent } from "../agent.ts";
import { loadConfig } from "../config.ts";
import { MemoryExecutor } from "../executor/memory.ts";
import { enrolAgent } from "./enrol.ts";
import { JoinError } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-enrol-"));
const root = testRoot("c7");
const tokens = {
  worker: formatJoinToken(root.digest, testBytes("w", 16)),
  manager: formatJoinToken(root.digest, testBytes("m", 16)),
};
const managers: StandInManager[] = [];
after(async () => {
  for (const m of managers) await m.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function standIn(o: Partial<Parameters<typeof StandInManager.start>[0]> = {}) {
  const m = await StandInManager.start({ root, tokens, ...o });
  managers.push(m);
  return m;
}

const quick = { connectTimeoutMs: 2000, responseTimeoutMs: 500, rounds: 1 };

test("join writes certs (key 0600) and a config the agent runs from alone", async () => {
  const m = await standIn();
  const d = join(dir, "board");
  writeFileSync(join(dir, "placeholder"), ""); // the data dir need not exist yet
  const r = await enrolAgent({
    dataDir: d,
    token: tokens.worker,
    managers: [m.address],
    labels: { site: "north" },
    hostname: "board-7",
    ...quick,
  });
  assert.equal(r.clusterId, "c7");
  const certs = join(d, "certs");
  assert.deepEqual(readdirSync(certs).sort(), ["ca.pem", "node.key", "node.pem"]);
  assert.equal(statSync(join(certs, "node.key")).mode & 0o777, 0o600);
  assert.equal(caDigest(readFileSync(join(certs, "ca.pem"), "utf8")), root.digest);
  const saved = readFileSync(join(d, "agent.json"), "utf8");
  assert.doesNotMatch(saved, /FLT1/);
  const c = loadConfig(["--data-dir", d]);
  assert.equal(c.clusterId, "c7");
  assert.equal(c.nodeId, r.nodeId);
  assert.deepEqual(c.brokers, [`mqtts://127.0.0.1:${m.port}`]);
  assert.equal(c.hostname, "board-7");
  assert.deepEqual(c.labels, { site: "north" });
  assert.equal(c.tls?.certFile, join(certs, "node.pem"));
  // The agent itself: mTLS with the new certificate, the broker verified by its name.
  let connected: (b: string) => void = () => {};
  const up = new Promise<string>((res) => {
    connected = res;
  });
  const agent = startAgent(c, new MemoryExecutor(), {
    log: () => {},
    onConnected: (b) => connected(b),
  });
  try {
    const deadline = setTimeout(() => connected("timeout"), 10_000);
    assert.equal(await up, `mqtts://127.0.0.1:${m.port}`);
    clearTimeout(deadline);
    assert.deepEqual(m.nodes, [r.nodeId]);
  } finally {
    await agent.stop();
  }
  // Joined once: a second join is refused and changes nothing.
  const before = readFileSync(join(certs, "node.pem"), "utf8");
  const again = enrolAgent({ dataDir: d, token: tokens.worker, managers: [m.address], ...quick });
  await assert.rejects(
    again,
    (e: unknown) => e instanceof JoinError && e.code === "already-joined",
  );
  assert.equal(readFileSync(join(certs, "node.pem"), "utf8"), before);
  assert.equal(m.requests.length, 1);
});

test("a failed join writes nothing: wrong token, other CA, timeout, refusal", async () => {
  const ok = await standIn();
  const mitm = await standIn({ presented: testRoot("mitm") });
  const silent = await standIn({ respond: () => undefined });
  const no = await standIn({ respond: () => ({ ok: false, error: "removed", code: "removed" }) });
  const wrong = formatJoinToken(root.digest, testBytes("x", 16));
  const cases: [string, string, string][] = [
    ["wrong-token", wrong, ok.address],
    ["ca-mismatch", tokens.worker, mitm.address],
    ["timeout", tokens.worker, silent.address],
    ["refused", tokens.worker, no.address],
    ["wrong-token", tokens.manager, ok.address],
  ];
  for (const [i, [code, token, address]] of cases.entries()) {
    const d = join(dir, `fail-${i}`);
    const p = enrolAgent({ dataDir: d, token, managers: [address], ...quick });
    await assert.rejects(p, (e: unknown) => e instanceof JoinError && e.code === code, code);
    assert.equal(existsSync(d), false, `${code}: ${d} was created`);
  }
});

test("certificates without a saved identity (a join that crashed midway) are joined over", async () => {
  const m = await standIn();
  const d = join(dir, "half");
  mkdirSync(join(d, "certs"), { recursive: true });
  for (const f of ["ca.pem", "node.pem", "node.key"]) writeFileSync(join(d, "certs", f), "stale");
  const r = await enrolAgent({ dataDir: d, token: tokens.worker, managers: [m.address], ...quick });
  assert.notEqual(readFileSync(join(d, "certs", "node.pem"), "utf8"), "stale");
  assert.equal(loadConfig(["--data-dir", d]).nodeId, r.nodeId);
});
