// External broker mode's connection handling: the backoff's bounds; a wait that outlasts a
// missing broker (retries logged) and ends when one starts on the port; giving up on abort; the
// manager-wide link failing clearly while the broker is away and carrying messages once it is
// there. The broker is the embedded one (plain MQTT), started late on a free port.

import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort } from "../../test/support/real.ts";
import { createLogger } from "../log.ts";
import { Broker } from "./broker.ts";
import { ExternalLink, retryDelayMs, waitForBroker } from "./external.ts";

function logger() {
  const lines: string[] = [];
  return { lines, log: createLogger("t", { level: "info", write: (l) => lines.push(l) }) };
}

async function until(what: string, ok: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("retry delays: 1 s doubling to the cap, ±20 %", () => {
  for (let attempt = 0; attempt < 40; attempt++)
    for (const r of [0, 0.5, 0.999]) {
      const d = retryDelayMs(attempt, 30_000, () => r);
      const base = Math.min(30_000, 1000 * 2 ** attempt);
      assert.ok(d >= base * 0.8 && d <= base * 1.2, `${attempt} ${r} ${d}`);
    }
});

test("waitForBroker keeps retrying until a broker starts, then resolves", async () => {
  const port = await freePort();
  const { lines, log } = logger();
  let broker: Broker | undefined;
  try {
    const waiting = waitForBroker({ url: `mqtt://127.0.0.1:${port}`, clientId: "m1", log });
    await until("a logged retry", () => lines.some((l) => l.includes("broker unreachable")));
    broker = await Broker.start({ host: "127.0.0.1", port });
    await waiting;
    assert.ok(lines.some((l) => l.includes("broker reachable again")));
  } finally {
    await broker?.close();
  }
});

test("waitForBroker gives up when aborted", async () => {
  const port = await freePort();
  const { log } = logger();
  const ac = new AbortController();
  const waiting = waitForBroker({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: "m1",
    log,
    signal: ac.signal,
  });
  setTimeout(() => ac.abort(new Error("leadership ended")), 200);
  await assert.rejects(waiting, /leadership ended/);
});

test("ExternalLink: a clear error while the broker is away, messages once it is up", async () => {
  const port = await freePort();
  const { log } = logger();
  const url = `mqtt://127.0.0.1:${port}`;
  const link = new ExternalLink({ url, clientId: "fleet-manager-m1", log }, 300);
  let broker: Broker | undefined;
  try {
    await assert.rejects(
      link.publish("fleet/c1/x", Buffer.from("a")),
      new RegExp(`external broker ${url} is unreachable`),
    );
    broker = await Broker.start({ host: "127.0.0.1", port });
    await until("the link connected", () => link.connected);
    const got: string[] = [];
    const unsubscribe = await link.subscribe("fleet/c1/+", (m) => got.push(String(m.payload)));
    await link.publish("fleet/c1/x", Buffer.from("b"), { qos: 1 });
    await until("the message back", () => got.includes("b"));
    await unsubscribe();
  } finally {
    await link.close();
    await broker?.close();
  }
});
