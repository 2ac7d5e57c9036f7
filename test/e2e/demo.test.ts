// `npm start` works: the README's first command builds fleet, starts three managers and three
// real agents (running containers on the real Docker engine), deploys the sample services and
// sees them converge. `--check` makes it exit once converged, cleaning up after itself.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { need } from "../support/real.ts";

test("npm start brings up a working local cluster", (t) => {
  if (!need(t, "docker", "busybox")) return;
  const root = join(import.meta.dirname, "../..");
  const r = spawnSync(process.execPath, [join(root, "scripts/demo.mjs"), "--check"], {
    cwd: root,
    encoding: "utf8",
    timeout: 280_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-6000));
  assert.match(r.stdout, /hello\s+replicated\s+2\/2/);
  assert.match(r.stdout, /probe\s+global\s+3\/3/);
  assert.match(r.stdout, /converged: hello runs only on edge-ssd/);
  assert.match(r.stdout, /joined by token/);
  // The agents' node ids come from their join (random): the demo's containers are the ones
  // made from its image.
  const left = spawnSync(
    "docker",
    ["ps", "-aq", "--filter", "ancestor=fleet-demo/busybox:latest"],
    { encoding: "utf8" },
  );
  assert.equal(left.stdout.trim(), "", "the demo removed its containers");
});
