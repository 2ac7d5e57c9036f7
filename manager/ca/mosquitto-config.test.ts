import assert from "node:assert/strict";
import { test } from "node:test";
import { grants } from "../../core/crypto/acl.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { mosquittoConfig } from "./mosquitto-config.ts";

const base = {
  clusterId: "c1",
  port: 8883,
  caFile: "/etc/fleet/ca.pem",
  certFile: "/etc/fleet/broker.crt",
  keyFile: "/etc/fleet/broker.key",
  aclFile: "/etc/fleet/acl",
  managers: ["m1", "m2"],
  admins: ["ops"],
};

test("mosquitto.conf: certificates required, CN as username, TLS 1.3, no anonymous", () => {
  const { conf } = mosquittoConfig(base);
  for (const line of [
    "allow_anonymous false",
    "listener 8883 0.0.0.0",
    "require_certificate true",
    "use_identity_as_username true",
    "tls_version tlsv1.3",
    "acl_file /etc/fleet/acl",
  ])
    assert.ok(conf.split("\n").includes(line), line);
  assert.ok(!conf.includes("require_certificate false"));
});

test("a join listener allows anonymous clients, confined by %c patterns", () => {
  const { conf, acl } = mosquittoConfig({ ...base, joinPort: 8884, crlFile: "/etc/fleet/crl.pem" });
  assert.ok(conf.includes("allow_anonymous true"));
  assert.ok(conf.includes("listener 8884 0.0.0.0\ncafile"));
  assert.equal(conf.match(/crlfile/g)?.length, 1, "the CRL guards the certificate listener");
  assert.ok(acl.includes("pattern write fleet/c1/join/%c/req"));
  assert.ok(acl.includes("pattern read fleet/c1/join/%c/resp"));
});

test("acl: managers by name, admins read-only, nodes by %u", () => {
  const { acl } = mosquittoConfig(base);
  assert.ok(acl.includes("user m1\ntopic readwrite fleet/c1/#"));
  assert.ok(acl.includes("user m2\ntopic readwrite fleet/c1/#"));
  assert.ok(acl.includes("user ops\ntopic read fleet/c1/events/#\ntopic read fleet/c1/state/#"));
  for (const k of ["hello", "hb", "status", "csr"])
    assert.ok(acl.includes(`pattern write fleet/c1/n/%u/${k}`));
  assert.ok(acl.includes("pattern read fleet/c1/n/%u/assign"));
  assert.ok(acl.includes("pattern read fleet/c1/managers/beacon"));
  assert.ok(
    !/^pattern (write|readwrite) fleet\/c1\/managers/m.test(acl),
    "only managers publish it",
  );
  assert.ok(!/^topic .*n\/\+/m.test(acl), "no node gets a wildcard over other nodes");
});

test("ids that would inject ACL syntax are refused", () => {
  for (const bad of [
    { managers: ["m1\ntopic readwrite #"] },
    { admins: ["#"] },
    { clusterId: "c/1" },
  ])
    assert.throws(() => mosquittoConfig({ ...base, ...bad }), CryptoError);
});

test("the mosquitto patterns are exactly the worker and join grants of core/crypto/acl.ts", () => {
  const { acl } = mosquittoConfig(base);
  const patterns = acl.split("\n").filter((l) => l.startsWith("pattern "));
  const node = grants({ kind: "node", clusterId: "c1", nodeId: "%u", role: "worker" });
  const join = grants({ kind: "join", clusterId: "c1", requestId: "%c" });
  const expected = [
    ...[...node.publish, ...join.publish].map((t) => `pattern write ${t}`),
    ...[...node.subscribe, ...join.subscribe].map((t) => `pattern read ${t}`),
  ];
  assert.deepEqual([...patterns].sort(), expected.sort());
});
