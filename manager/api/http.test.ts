import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { apiLimits } from "./limits.ts";
import { ApiServer } from "./server.ts";
import { testWorld } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-api-"));
after(() => rmSync(dir, { recursive: true, force: true }));

type Target = { socketPath: string } | { host: string; port: number };

function send(to: Target, method: string, path: string, body?: string | Buffer) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ ...to, method, path, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.end(body);
  });
}

/** Reads server-sent events until `count` arrived; returns them and closes the stream. */
function readEvents(to: Target, path: string, count: number, headers: Record<string, string> = {}) {
  return new Promise<{ event: string; id?: string; data: unknown }[]>((resolve, reject) => {
    const out: { event: string; id?: string; data: unknown }[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${out.length} events`)), 10_000);
    const req = request({ ...to, method: "GET", path, headers }, (res) => {
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = Object.fromEntries(
            block
              .split("\n")
              .filter((l) => !l.startsWith(":"))
              .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
          );
          if (f.event) out.push({ event: f.event, id: f.id, data: JSON.parse(f.data) });
          if (out.length >= count) {
            clearTimeout(timer);
            req.destroy();
            resolve(out);
          }
        }
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
    req.on("error", (e) => (out.length >= count ? undefined : reject(e)));
    req.end();
  });
}

const svc = (name: string) =>
  JSON.stringify({ name, taskTemplate: { containerSpec: { image: "busybox" } } });

test("the API on a real unix socket (0600) and TCP: JSON, errors, oversized bodies", async () => {
  const w = testWorld();
  const socketPath = join(dir, "a.sock");
  writeFileSync(socketPath, ""); // a stale file from a crashed manager is replaced
  const api = new ApiServer(w.ctx, { socketPath, tcp: { host: "127.0.0.1", port: 0 } });
  const where = await api.start();
  try {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    const unix = { socketPath };
    const ls = await send(unix, "GET", "/v1/nodes");
    assert.equal(ls.status, 200);
    assert.equal(JSON.parse(ls.text).length, 3);
    const tcp = { host: "127.0.0.1", port: where.tcp!.port };
    const created = await send(tcp, "POST", "/v1/services/create", svc("web"));
    assert.equal(created.status, 201);
    const bad = await send(unix, "POST", "/v1/services/create", "{");
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).error.code, "bad_json");
    const big = Buffer.alloc(apiLimits.requestBodyBytesMax + 1, 32);
    const tooBig = await send(unix, "POST", "/v1/services/create", big);
    assert.equal(tooBig.status, 413);
    assert.match(JSON.parse(tooBig.text).error.message, /exceeds/);
    const second = new ApiServer(w.ctx, { socketPath });
    await assert.rejects(second.start(), /another process already serves/);
  } finally {
    await api.stop();
  }
});

test("events: a live stream of store changes, resumable with since and Last-Event-ID", async () => {
  const w = testWorld();
  const socketPath = join(dir, "e.sock");
  const api = new ApiServer(w.ctx, { socketPath });
  await api.start();
  try {
    const to = { socketPath };
    const live = readEvents(to, "/v1/events?type=service", 2);
    await waitFor(() => api.events.clients === 1);
    const base = w.store.index;
    await send(to, "POST", "/v1/services/create", svc("a"));
    await send(to, "POST", "/v1/services/create", svc("b"));
    const got = await live;
    assert.deepEqual(
      got.map((e) => [e.event, (e.data as { action: string }).action]),
      [
        ["service", "create"],
        ["service", "create"],
      ],
    );
    assert.equal((got[0]!.data as { attributes: { name: string } }).attributes.name, "a");
    const resumed = await readEvents(to, `/v1/events?since=${base + 1}`, 1);
    assert.equal((resumed[0]!.data as { attributes: { name: string } }).attributes.name, "b");
    const byHeader = await readEvents(to, "/v1/events", 1, { "last-event-id": String(base) });
    assert.equal(byHeader[0]!.id, String(base + 1));
    const gone = await send(to, "GET", `/v1/events?since=${base - 1}`);
    assert.equal(gone.status, 410);
    assert.match(JSON.parse(gone.text).error.message, /no longer held/);
    const stopped = readEvents(to, "/v1/events", 5);
    await waitFor(() => api.events.clients === 1);
    await api.stop();
    const last = await stopped;
    assert.equal(last.at(-1)?.event, "reset");
  } finally {
    await api.stop();
  }
});

async function waitFor(ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}
