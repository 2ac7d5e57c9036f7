import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { privateKeyFromPem } from "../../core/crypto/keys.ts";
import { ApiServer } from "../api/server.ts";
import { testWorld } from "../api/testing.ts";
import { CertificateAuthority } from "../ca/ca.ts";
import { CaKeeper, clusterCAFields } from "../ca/lifecycle.ts";
import { fleet } from "./testing.ts";

test("fleet ca issue-admin, broker-config mosquitto, autolock, unlock-key, unlock", async () => {
  const w = testWorld();
  w.ctx.now = () => Date.now();
  const { ca, tokens } = CertificateAuthority.create({ clusterId: "c1" });
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    tx.update("clusters", { ...c, ...clusterCAFields(ca, tokens) });
  });
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-ca-"));
  const socket = join(dir, "fleet.sock");
  const api = new ApiServer(w.ctx, { socketPath: socket, ca: new CaKeeper("c1") });
  await api.start();
  try {
    const admin = await fleet(["ca", "issue-admin", "ops", "--out", join(dir, "ops")], { socket });
    assert.equal(admin.code, 0, admin.stderr);
    const cert = parseCertificate(readFileSync(join(dir, "ops", "cert.pem"), "utf8"));
    assert.equal(cert.subject.organizationalUnit, "admin");
    const key = privateKeyFromPem(readFileSync(join(dir, "ops", "key.pem"), "utf8"));
    assert.deepEqual(key.publicKey, cert.publicKey);
    assert.equal(statSync(join(dir, "ops", "key.pem")).mode & 0o077, 0);

    const mq = join(dir, "mq");
    const bc = await fleet(
      ["broker-config", "mosquitto", "--out", mq, "--port", "18883", "--admin", "ops"],
      { socket },
    );
    assert.equal(bc.code, 0, bc.stderr);
    const conf = readFileSync(join(mq, "mosquitto.conf"), "utf8");
    assert.match(conf, /listener 18883/);
    assert.match(conf, /require_certificate true/);
    const chain = readFileSync(join(mq, "broker.pem"), "utf8");
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2, "leaf + root, for pinning");
    assert.ok(chain.endsWith(readFileSync(join(mq, "ca.pem"), "utf8")));
    assert.match(conf, new RegExp(`crlfile ${join(mq, "crl.pem")}`));
    assert.match(readFileSync(join(mq, "acl"), "utf8"), /user m1\ntopic readwrite fleet\/c1\/#/);
    assert.match(readFileSync(join(mq, "acl"), "utf8"), /user ops\ntopic read fleet\/c1\/events/);

    const on = await fleet(["cluster", "update", "--autolock", "true"], { socket });
    assert.equal(on.code, 0, on.stderr);
    const unlockKey = /FLTKEY-1-[A-Za-z0-9_-]{43}/.exec(on.stdout)?.[0];
    assert.ok(unlockKey, on.stdout);
    const shown = await fleet(["unlock-key", "-q"], { socket });
    assert.equal(shown.stdout.trim(), unlockKey);
    const wrong = await fleet(["unlock", "--key", `${unlockKey.slice(0, -2)}AA`], { socket });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unlock key|wrong|not/i);
    const right = await fleet(["unlock", "--key", unlockKey], { socket });
    assert.equal(right.code, 0, right.stderr);
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
