// The pure rules of role reissue: what a new certificate's record keeps, what is due for
// revocation and when, and who may be promoted.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  nextCertificateRecord,
  promotionRefusal,
  revokedOnLeave,
  supersededDue,
  workerCertificateRecorded,
} from "./role-reissue.ts";

const c = (serial: string) => ({ serial, notAfter: 100 });

test("a role change keeps the presented certificate as superseded; a plain renewal does not", () => {
  const renewed = nextCertificateRecord(
    { serial: "01", notAfter: 50 },
    { serial: "02", notAfterMs: 100, role: "manager" },
    { serial: "01", notAfterMs: 50, role: "manager" },
  );
  assert.deepEqual(renewed, { serial: "02", notAfter: 100, role: "manager" });
  const demoted = nextCertificateRecord(
    renewed,
    { serial: "03", notAfterMs: 200, role: "worker" },
    { serial: "02", notAfterMs: 100, role: "manager" },
  );
  assert.deepEqual(demoted, { serial: "03", notAfter: 200, role: "worker", superseded: [c("02")] });
  const back = nextCertificateRecord(
    demoted,
    { serial: "04", notAfterMs: 300, role: "manager" },
    { serial: "03", notAfterMs: 200, role: "worker" },
  );
  assert.deepEqual(back.superseded, [c("02"), { serial: "03", notAfter: 200 }]);
});

test("superseded certificates are due once the node no longer presents them", () => {
  const spec = (role: "worker" | "manager") => ({
    role,
    availability: "active" as const,
    labels: {},
  });
  const member = { managerStatus: {} };
  const rec = (role: "worker" | "manager", sup: string[]) => ({
    serial: "ff",
    notAfter: 1,
    role,
    superseded: sup.map(c),
  });
  // Demoted, still a member: its manager certificate is still what it presents.
  const demoted = { id: "m", spec: spec("worker"), ...member, certificate: rec("worker", ["aa"]) };
  assert.deepEqual(supersededDue(demoted), []);
  assert.equal(workerCertificateRecorded(demoted), true);
  assert.deepEqual(revokedOnLeave(demoted), [c("aa")]);
  // Promoted back and presenting its new manager certificate.
  const back = {
    id: "m",
    spec: spec("manager"),
    ...member,
    certificate: rec("manager", ["aa", "bb"]),
  };
  assert.deepEqual(supersededDue(back), [c("aa"), c("bb")]);
  // Demoted without a reissue (dead, or its CA locked): the recorded manager one goes on leave.
  const stale = { id: "m", spec: spec("worker"), ...member, certificate: c("cc") };
  assert.equal(workerCertificateRecorded(stale), false);
  assert.deepEqual(revokedOnLeave(stale), [c("cc")]);
});

test("promotion: refused for a node without a manager daemon in the group", () => {
  const base = {
    id: "abcdef0123456789",
    description: { hostname: "edge-1" },
    spec: { role: "worker" as const, availability: "active" as const, labels: {} },
  };
  assert.match(promotionRefusal(base) ?? "", /edge-1 \(abcdef012345\) runs no manager daemon/);
  assert.equal(promotionRefusal({ ...base, managerStatus: {} }), undefined);
  assert.equal(promotionRefusal({ ...base, spec: { ...base.spec, role: "manager" } }), undefined);
});
