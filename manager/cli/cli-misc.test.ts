// The real `fleet` entry: events (a live stream, stopped with Ctrl-C), and init/join/leave
// handing over to a DaemonLauncher (a fake one here, loaded through FLEET_LAUNCHER).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fleet, ROOT, startApi } from "./testing.ts";

test("events: JSON lines as the store changes; Ctrl-C ends the stream with exit 0", async () => {
  const s = await startApi();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "manager/cli/main.ts"), "events", "--filter", "type=service"],
    { cwd: ROOT, env: { ...process.env, FLEET_HOST: s.socket, NODE_TEST_CONTEXT: undefined } },
  );
  try {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await waitFor(() => s.api.events.clients === 1, 30_000);
    const created = await fleet(["service", "create", "-d", "--name", "web", "busybox"], {
      socket: s.socket,
    });
    assert.equal(created.code, 0, created.stderr);
    await waitFor(() => out.includes("\n"), 30_000);
    const event = JSON.parse(out.split("\n")[0]!);
    assert.equal(event.type, "service");
    assert.equal(event.action, "create");
    assert.equal(event.attributes.name, "web");
    child.kill("SIGINT");
    assert.equal(await exited, 0);
  } finally {
    child.kill("SIGKILL");
    await s.stop();
  }
});

test("init, join and leave call the daemon launcher; the built-in one refuses an empty data dir", async () => {
  const s = await startApi();
  const log = join(s.dir, "launcher.log");
  const mod = join(s.dir, "launcher.mjs");
  writeFileSync(
    mod,
    `import { appendFileSync } from "node:fs";
const log = ${JSON.stringify(log)};
const note = (what, o) => appendFileSync(log, JSON.stringify({ what, o }) + "\\n");
export const launcher = {
  async init(o) {
    note("init", o);
    return { nodeId: "n1", clusterId: "c9", workerToken: "FLT1-ab-cd" };
  },
  async join(o) { note("join", o); return { nodeId: "n2", role: "worker" }; },
  async leave(o) { note("leave", o); },
};
`,
  );
  try {
    const env = { FLEET_LAUNCHER: mod };
    const token = `FLT1-${"a".repeat(50)}-${"b".repeat(25)}`;
    const [none, init, join1, leave, noToken, badToken] = await Promise.all([
      fleet(["leave", "--data-dir", join(s.dir, "nothing-here")]),
      fleet(
        [
          "init",
          "--data-dir",
          s.dir,
          "--advertise-addr",
          "10.0.0.1:4242",
          "--broker",
          "mqtts://mq.example:8883",
        ],
        { env },
      ),
      fleet(["join", "--token", token, "10.0.0.1:4242"], { env }),
      fleet(["leave", "--force"], { env }),
      fleet(["join", "10.0.0.1:4242"], { env }),
      fleet(["join", "--token", "secret", "10.0.0.1:4242"], { env }),
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /holds no manager: this node is not part of a cluster/);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /current node \(n1\) is now a manager of cluster c9/);
    assert.match(init.stdout, /edge-agent join --token FLT1-ab-cd .*10\.0\.0\.1:4242/);
    assert.match(join1.stdout, /This node \(n2\) joined the cluster as a worker/);
    assert.equal(leave.code, 0, leave.stderr);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /--token is required/);
    assert.equal(badToken.code, 2);
    const badBroker = await fleet(["join", "--token", token, "--broker", "http://mq:80", "a:1"], {
      env,
    });
    assert.equal(badBroker.code, 2);
    assert.match(badBroker.stderr, /--broker: "http:\/\/mq:80" is not mqtts:\/\/HOST:PORT/);
    const calls = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const initCall = calls.find((c) => c.what === "init");
    assert.equal(initCall.o.dataDir, s.dir);
    assert.equal(initCall.o.apiSocket, `${s.dir}/fleet.sock`);
    assert.equal(initCall.o.listenAddr, "0.0.0.0:4242");
    assert.equal(initCall.o.broker, "mqtts://mq.example:8883");
    assert.deepEqual(calls.find((c) => c.what === "join").o.remotes, ["10.0.0.1:4242"]);
    assert.equal(calls.find((c) => c.what === "leave").o.force, true);
  } finally {
    await s.stop();
  }
});

async function waitFor(ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}
