// The project's own guard rails: the layering checker and the test runner's refusal to call
// "zero tests" a pass.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { checkFile, checkTree, importsOf } from "../scripts/check-imports.mjs";

const root = resolve(import.meta.dirname, "..");

test("import extraction sees static, re-export, side-effect and dynamic imports", () => {
  const src = `import a from "x";\nexport { b } from "./y.ts";\nimport "z";\nconst c = await import("w");\nimport type { T } from "t";`;
  assert.deepEqual(importsOf(src).sort(), ["./y.ts", "t", "w", "x", "z"]);
});

test("core/ must stay pure", () => {
  const bad = [
    ['import { readFileSync } from "node:fs";', 'imports "node:fs"'],
    ['import mqtt from "mqtt";', 'imports "mqtt"'],
    ['import { x } from "../../manager/api/x.ts";', "core/ imports"],
    ["const t = Date.now();", "Date.now()"],
    ["const r = Math.random();", "Math.random()"],
    ["setTimeout(() => {}, 1);", "timers"],
    ["const d = new Date();", "new Date()"],
  ];
  for (const [src, why] of bad) {
    const problems = checkFile("core/store/x.ts", src!);
    assert.equal(problems.length, 1, src);
    assert.ok(problems[0]!.includes(why!), `${problems[0]} mentions ${why}`);
  }
  assert.deepEqual(
    checkFile("core/store/x.ts", 'import { encode } from "cbor-x";\n// Date.now() is banned'),
    [],
  );
  assert.deepEqual(
    checkFile("core/store/x.test.ts", 'import { test } from "node:test";\nDate.now();'),
    [],
  );
});

test("edge-agent/ never reaches into manager/ or aedes", () => {
  assert.equal(
    checkFile("edge-agent/session/s.ts", 'import { x } from "../../manager/broker/b.ts";').length,
    1,
  );
  assert.equal(checkFile("edge-agent/main.ts", 'import Aedes from "aedes";').length, 1);
  assert.deepEqual(checkFile("edge-agent/main.ts", 'import mqtt from "mqtt";'), []);
});

test("the tree itself obeys the layering rules", () => {
  assert.deepEqual(checkTree(root), []);
});

test("the test runner fails when it counts zero tests", () => {
  const dir = mkdtempSync(join(root, ".tmp-runner-"));
  try {
    const empty = join(dir, "empty.test.ts");
    writeFileSync(empty, "export {};\n");
    const r = spawnSync(process.execPath, [join(root, "scripts/test.mjs"), empty], {
      encoding: "utf8",
      env: { ...process.env, CI: "" },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /counted zero tests/);
    const failing = join(dir, "failing.test.ts");
    writeFileSync(
      failing,
      'import { test } from "node:test";\ntest("x", () => { throw new Error("no"); });\n',
    );
    const f = spawnSync(process.execPath, [join(root, "scripts/test.mjs"), failing], {
      encoding: "utf8",
    });
    assert.notEqual(f.status, 0);
    assert.match(f.stdout, /1 failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
