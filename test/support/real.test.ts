// The real parts every later end-to-end test relies on are present and work: a Docker engine
// that runs the locally built test image, and a mosquitto broker that real clients talk through.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { test } from "node:test";
import { ensureTestImage, need, removeTestContainers, startMosquitto, TEST_LABEL } from "./real.ts";

test("docker runs the locally imported busybox image", (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  try {
    const r = spawnSync(
      "docker",
      ["run", "--rm", "--label", `${TEST_LABEL}=support`, image, "echo", "fleet-ok"],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "fleet-ok");
  } finally {
    removeTestContainers("support");
  }
});

test("mosquitto carries a message between the real command-line clients", async (t) => {
  if (!need(t, "mosquitto")) return;
  const broker = await startMosquitto();
  try {
    const sub = spawn("mosquitto_sub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(broker.port),
      "-t",
      "fleet/test/#",
      "-C",
      "1",
      "-W",
      "10",
    ]);
    let out = "";
    sub.stdout.on("data", (d) => {
      out += String(d);
    });
    const exited = new Promise<number | null>((resolve) => sub.once("exit", resolve));
    // Publish until the subscriber has received (its subscription races our first publish).
    for (let i = 0; i < 50 && sub.exitCode === null; i++) {
      spawnSync("mosquitto_pub", [
        "-h",
        "127.0.0.1",
        "-p",
        String(broker.port),
        "-t",
        "fleet/test/x",
        "-m",
        "hello",
      ]);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await exited, 0);
    assert.equal(out.trim(), "hello");
  } finally {
    await broker.stop();
  }
});
