// The API's TCP port in secure mode: mutual TLS with admin or manager certificates of this
// cluster; workers, other CAs and plain HTTP refused. Driven by the CLI's ApiClient and by the
// real `fleet` CLI with --tlscacert/--tlscert/--tlskey and with FLEET_CERT_PATH.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiClient, CliError } from "../cli/client.ts";
import { fleet } from "../cli/testing.ts";
import { apiTls, type NodeTls } from "../secure.ts";
import { TestCluster, writeTls } from "../secure-testing.ts";
import { ApiServer } from "./server.ts";
import { testWorld } from "./testing.ts";

describe("API TCP port over mutual TLS", () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("m1", "manager");
  const dir = mkdtempSync(join(tmpdir(), "fleet-api-tls-"));
  let api: ApiServer;
  let host = "";

  before(async () => {
    const world = testWorld();
    world.ctx.now = () => Date.now();
    api = new ApiServer(world.ctx, {
      tcp: { host: "127.0.0.1", port: 0, tls: apiTls(cluster.deps(() => manager)) },
    });
    const where = await api.start();
    host = `tcp://127.0.0.1:${where.tcp!.port}`;
  });
  after(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const info = (tls?: NodeTls) => new ApiClient(host, tls).call("GET", "/v1/info");

  test("admin and manager certificates are served", async () => {
    assert.equal((await info(cluster.issue("ops", "admin"))).clusterId, "c1");
    assert.equal((await info(cluster.issue("m2", "manager"))).clusterId, "c1");
  });

  test("a worker, another CA, a revoked admin and plain HTTP are refused", async () => {
    await assert.rejects(info(cluster.issue("w1", "worker")), CliError);
    assert.ok(cluster.logged("worker certificate of w1 refused here (admin or manager only)"));
    const other = new TestCluster("c1", "ed25519", "another-ca");
    await assert.rejects(info({ ...other.issue("ops", "admin"), caPem: manager.caPem }), CliError);
    const revoked = cluster.issue("ops2", "admin");
    cluster.revoked.add(revoked.serial);
    await assert.rejects(info(revoked), CliError);
    assert.ok(cluster.logged(`${revoked.serial} of ops2 is revoked`));
    await assert.rejects(info(), /closed the connection|cannot talk|socket hang up/);
  });

  test("the fleet CLI reaches it with --tls* flags and with FLEET_CERT_PATH", async () => {
    const admin = writeTls(dir, "admin", cluster.issue("ops3", "admin"));
    const flags = ["--tlscacert", admin.ca, "--tlscert", admin.cert, "--tlskey", admin.key];
    const a = await fleet(["--host", host, ...flags, "node", "ls", "-q"]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /w1/);

    const certDir = join(dir, "certs");
    mkdirSync(certDir);
    const m = cluster.issue("ops4", "admin");
    writeFileSync(join(certDir, "ca.pem"), m.caPem);
    writeFileSync(join(certDir, "cert.pem"), m.certPem);
    writeFileSync(join(certDir, "key.pem"), m.keyPem, { mode: 0o600 });
    const b = await fleet(["node", "ls", "-q"], {
      env: { FLEET_HOST: host, FLEET_CERT_PATH: certDir },
    });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /w1/);

    const c = await fleet(["node", "ls"], { env: { FLEET_HOST: host } });
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /admin certificate/);
  });
});
