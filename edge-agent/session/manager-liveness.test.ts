// The manager liveness rule with an injected clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ManagerLiveness } from "./manager-liveness.ts";

test("silent only after the announced periods pass without a beacon or assignment", () => {
  let now = 1_000;
  const l = new ManagerLiveness(() => now, 3);
  // No beacon yet (managers that send none): never silent, however long.
  l.heard();
  now += 3_600_000;
  assert.equal(l.deadline(), undefined);
  assert.equal(l.silent(), false);
  // A beacon arms the rule with its period.
  l.beacon(1000);
  assert.equal(l.deadline(), now + 3000);
  now += 3000;
  assert.equal(l.silent(), false, "exactly 3 periods is not yet silent");
  now += 1;
  assert.equal(l.silent(), true);
  // A live assignment proves a manager too.
  l.heard();
  assert.equal(l.silent(), false);
  now += 2999;
  l.beacon(500);
  assert.equal(l.deadline(), now + 1500, "the latest announced period counts");
  now += 1501;
  assert.equal(l.silent(), true);
  // A new connection: back to the pre-beacon behaviour.
  l.reset();
  assert.equal(l.silent(), false);
  assert.equal(l.deadline(), undefined);
});
