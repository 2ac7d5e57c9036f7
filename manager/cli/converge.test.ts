// The converge display on a terminal (in-process run(), so stdout can claim to be a TTY): the
// task lines are redrawn in place with ANSI cursor moves instead of printed again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeOrchestrator } from "./fake-orchestrator.ts";
import { run } from "./run.ts";
import { startApi } from "./testing.ts";

test("on a TTY the progress lines are redrawn in place until the service converges", async () => {
  const s = await startApi();
  const orch = fakeOrchestrator(s.store, 60);
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    isTTY: true,
    env: { FLEET_HOST: s.socket },
    now: () => Date.now(),
  };
  try {
    const code = await run(
      ["service", "create", "--name", "web", "--replicas", "2", "busybox"],
      io,
    );
    assert.equal(code, 0, err.join("\n"));
    const frames = out.slice(1, -1);
    assert.ok(frames.length >= 2, `expected several frames, got ${frames.length}`);
    // Each frame moves the cursor up over exactly the lines the frame before it drew (their
    // number varies with how far the tasks got when the frame was taken), then clears below.
    const cursorUp = new RegExp(
      `^${String.fromCharCode(27)}\\[\\d+A${String.fromCharCode(27)}\\[J`,
    );
    const lines = (f: string) => f.replace(cursorUp, "").split("\n").length;
    for (let i = 1; i < frames.length; i++) {
      const up = `\x1b[${lines(frames[i - 1]!)}A\x1b[J`;
      assert.ok(
        frames[i]!.startsWith(up),
        `frame ${i} redrawn in place: ${JSON.stringify(frames[i])}`,
      );
    }
    assert.match(frames.at(-1)!, /overall progress: 2 out of 2 tasks\n1\/2: running/);
    assert.equal(out.at(-1), "verify: Service web converged");
  } finally {
    orch.stop();
    await s.stop();
  }
});
