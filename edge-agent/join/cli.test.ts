// The agent's join as a process (edge-agent/main.ts through tsx) against the stand-in manager:
// `join` exits 0 having written the data dir, exits 1 with a typed message and writes nothing
// on a wrong token or another CA; `run` with a token in its config joins first and connects
// with the new certificate.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { testBytes, testRoot } from "../../core/crypto/testing.ts";
import { formatJoinToken } from "../../core/crypto/token.ts";
import { StandInManager } from "../../test/support/join-standin.ts";
import { freePort } from "../../test/support/real.ts";

const MAIN = join(import.meta.dirname, "..", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "fleet-join-cli-"));
const root = testRoot("c9");
const tokens = {
  worker: formatJoinToken(root.digest, testBytes("cli-w", 16)),
  manager: formatJoinToken(root.digest, testBytes("cli-m", 16)),
};
const managers: StandInManager[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const m of managers) await m.stop();
  rmSync(dir, { recursive: true, force: true });
});

function agent(args: string[]): { p: ChildProcess; out: () => string; exit: Promise<number> } {
  const p = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.push(p);
  let out = "";
  p.stdout?.on("data", (b) => {
    out += b;
  });
  p.stderr?.on("data", (b) => {
    out += b;
  });
  const exit = new Promise<number>((r) => p.once("exit", (code) => r(code ?? -1)));
  return { p, out: () => out, exit };
}

test("edge-agent join: exit 0 and a data dir `run` can use; failures exit 1, write nothing", async () => {
  const m = await StandInManager.start({ root, tokens });
  const mitm = await StandInManager.start({ root, tokens, presented: testRoot("other") });
  managers.push(m, mitm);
  const d = join(dir, "ok");
  const ok = agent([
    "join",
    "--token",
    tokens.worker,
    "--data-dir",
    d,
    "--label",
    "k=v",
    m.address,
  ]);
  assert.equal(await ok.exit, 0, ok.out());
  assert.match(ok.out(), /joined cluster c9 as node node-1 \(worker\)/);
  const saved = JSON.parse(readFileSync(join(d, "agent.json"), "utf8"));
  assert.equal(saved.nodeId, "node-1");
  assert.deepEqual(saved.brokers, [`mqtts://127.0.0.1:${m.port}`]);
  const wrong = formatJoinToken(root.digest, testBytes("nope", 16));
  for (const [code, token, address] of [
    ["wrong-token", wrong, m.address],
    ["ca-mismatch", tokens.worker, mitm.address],
    ["bad-token", "FLT1-x", m.address],
  ] as const) {
    const fd = join(dir, code);
    const a = agent(["join", "--token", token, "--data-dir", fd, "--rounds", "1", address]);
    assert.equal(await a.exit, 1, a.out());
    assert.match(a.out(), new RegExp(`\\[${code}\\]`));
    assert.equal(existsSync(fd), false);
  }
  assert.equal(mitm.connects.length, 0);
  const usage = agent(["join", "--data-dir", join(dir, "u"), m.address]);
  assert.equal(await usage.exit, 2);
  assert.match(usage.out(), /--token is required/);
});

test("edge-agent run with a join token in its config joins first, then connects", async () => {
  const m = await StandInManager.start({ root, tokens });
  managers.push(m);
  const d = join(dir, "first-boot");
  const image = join(dir, "image.json");
  writeFileSync(image, JSON.stringify({ joinToken: tokens.worker, brokers: [m.address] }));
  const a = agent(["run", "--data-dir", d, "--config", image, "--poll-ms", "200"]);
  const deadline = Date.now() + 30_000;
  while (!/connected to mqtts:/.test(a.out()) && Date.now() < deadline && a.p.exitCode === null)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(a.out(), /joined cluster c9 as node node-1/);
  assert.match(a.out(), new RegExp(`connected to mqtts://127.0.0.1:${m.port}`));
  assert.deepEqual(m.nodes.slice(0, 1), ["node-1"]);
  a.p.kill("SIGTERM");
  await a.exit;
  // Next start: certificates present, no second join.
  const b = agent(["run", "--data-dir", d, "--config", image, "--poll-ms", "200"]);
  const deadline2 = Date.now() + 30_000;
  while (!/connected to mqtts:/.test(b.out()) && Date.now() < deadline2 && b.p.exitCode === null)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(b.out(), /connected to/);
  assert.equal(m.requests.length, 1);
  b.p.kill("SIGTERM");
  await b.exit;
});

test("first boot with no manager reachable yet: run retries the join until one answers", async () => {
  const port = await freePort();
  const d = join(dir, "early-boot");
  const image = join(dir, "early.json");
  writeFileSync(
    image,
    JSON.stringify({ joinToken: tokens.worker, brokers: [`127.0.0.1:${port}`] }),
  );
  const a = agent(["run", "--data-dir", d, "--config", image, "--poll-ms", "200"]);
  const wait = async (re: RegExp) => {
    const deadline = Date.now() + 30_000;
    while (!re.test(a.out()) && Date.now() < deadline && a.p.exitCode === null)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(a.out(), re);
  };
  await wait(/joining again in \d+ ms/);
  assert.equal(existsSync(d), false);
  const m = await StandInManager.start({ root, tokens, port });
  managers.push(m);
  await wait(/connected to mqtts:/);
  assert.match(a.out(), /joined cluster c9/);
  a.p.kill("SIGTERM");
  await a.exit;
});
