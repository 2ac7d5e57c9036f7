// `fleet broker-config mosquitto --watch --reload-cmd CMD` (the real CLI entry as a child
// process) against an API over a unix socket: the first pass writes and reloads; a manager
// added and a node removed (serial revoked) rewrite acl and crl.pem and reload once each;
// changes that touch neither (a node's status) reload nothing. SIGTERM ends it with 0.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readCrl } from "../../core/crypto/crl.ts";
import type { Node } from "../../core/model/types.ts";
import { ApiServer } from "../api/server.ts";
import { testWorld } from "../api/testing.ts";
import { CertificateAuthority } from "../ca/ca.ts";
import { CaKeeper, clusterCAFields } from "../ca/lifecycle.ts";
import { ROOT } from "./testing.ts";

async function until(what: string, ok: () => boolean, ms = 30_000, note = () => "") {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${note()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("broker-config --watch keeps acl and crl.pem current and reloads on changes", async () => {
  const w = testWorld();
  w.ctx.now = () => Date.now();
  const { ca, tokens } = CertificateAuthority.create({ clusterId: "c1" });
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    tx.update("clusters", { ...c, ...clusterCAFields(ca, tokens) });
  });
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-watch-"));
  const socket = join(dir, "fleet.sock");
  const api = new ApiServer(w.ctx, { socketPath: socket, ca: new CaKeeper("c1") });
  await api.start();
  const mq = join(dir, "mq");
  const reloads = join(dir, "reloads");
  const env: Record<string, string | undefined> = {
    ...process.env,
    FLEET_HOST: `unix://${socket}`,
  };
  delete env.NODE_TEST_CONTEXT;
  const p = spawn(
    process.execPath,
    [
      ...["--import", "tsx", join(ROOT, "manager/cli/main.ts")],
      ...["broker-config", "mosquitto", "--out", mq, "--port", "18883", "--watch"],
      ...["--reload-cmd", `echo reload >> ${reloads}`],
    ],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  p.stdout.on("data", (d) => {
    out += d;
  });
  p.stderr.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => p.once("exit", r));
  const count = () =>
    existsSync(reloads) ? readFileSync(reloads, "utf8").split("\n").length - 1 : 0;
  const acl = () => (existsSync(join(mq, "acl")) ? readFileSync(join(mq, "acl"), "utf8") : "");
  try {
    // The first pass: files written, the broker reloaded (it may already be running).
    await until(
      "the first reload",
      () => count() === 1,
      60_000,
      () => out,
    );
    assert.match(acl(), /user m1\ntopic readwrite fleet\/c1\/#/);
    assert.deepEqual(readCrl(readFileSync(join(mq, "crl.pem"), "utf8"), ca.root.cert).serials, []);

    // A node's status changes: nothing to rewrite. Then a manager joins: one reload.
    const worker = w.store.view((tx) => tx.find("nodes").find((n) => n.spec.role === "worker"))!;
    assert.ok(worker, "the test world has a worker");
    w.store.update((tx) => {
      const n = tx.get("nodes", worker.id)!;
      tx.update("nodes", { ...n, status: { ...n.status, message: "busy" } });
    });
    const m1 = w.store.view((tx) => tx.get("nodes", "m1"))!;
    const m9: Node = { ...m1, id: "m9", version: 0 };
    w.store.update((tx) => tx.create("nodes", m9));
    await until(
      "the new manager in the acl",
      () => acl().includes("user m9\n"),
      30_000,
      () => out,
    );
    await until(
      "the second reload",
      () => count() === 2,
      30_000,
      () => out,
    );

    // `node rm` of the worker: its serial revoked, its id removed.
    const serial = "0badc0ffee";
    w.store.update((tx) => {
      tx.delete("nodes", worker.id);
      const c = tx.get("clusters", "c1")!;
      const now = Date.now();
      tx.update("clusters", {
        ...c,
        revocations: {
          serials: [{ serial, notAfterMs: now + 86_400_000, revokedAtMs: now }],
          removedNodes: [worker.id],
        },
      });
    });
    await until("the removed node denied", () =>
      acl().includes(`user ${worker.id}\ntopic deny fleet/#`),
    );
    await until(
      "the third reload",
      () => count() === 3,
      30_000,
      () => out,
    );
    const crl = readCrl(readFileSync(join(mq, "crl.pem"), "utf8"), ca.root.cert);
    assert.deepEqual(crl.serials, [serial]);
    await until("the watcher's report", () =>
      /updated: 2 managers, 1 removed nodes, 1 revoked serials; reloaded/.test(out),
    );
    assert.equal(count(), 3, "one reload per change");
  } finally {
    p.kill("SIGTERM");
    const code = await exited;
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, out);
  }
});
