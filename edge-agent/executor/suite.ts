// The one Executor conformance suite (Hono's router-suite pattern): the in-memory and the Docker
// executor register the same tests, so the worker's tests against memory mean something.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import {
  type ContainerConfig,
  type ContainerInfo,
  type Executor,
  ExecutorError,
} from "./executor.ts";

export interface SuiteTarget {
  executor: Executor;
  /** An image that is present locally and has busybox's sh, sleep, echo, true, false. */
  image: string;
  /** A label key=value put on every container the suite creates, for cleanup. */
  label: [string, string];
  /** Polling interval while waiting for a condition. */
  pollMs: number;
}

export interface SuiteSetup {
  /** Returns undefined when the target cannot run here (the setup says so loudly). */
  before(t: TestContext): Promise<SuiteTarget | undefined>;
  after(): Promise<void>;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  pollMs: number,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let seq = 0;
function config(s: SuiteTarget, extra: Partial<ContainerConfig>): ContainerConfig {
  const [k, v] = s.label;
  return {
    name: `fleet-suite-${process.pid}-${Date.now().toString(36)}-${++seq}`,
    image: s.image,
    args: ["sleep", "300"],
    labels: { [k]: v, "fleet.suite.case": String(seq) },
    ...extra,
  };
}

function inState(s: SuiteTarget, id: string, pred: (i: ContainerInfo) => boolean) {
  return until(
    `container ${id}`,
    async () => {
      const i = await s.executor.inspect(id);
      return i && pred(i) ? i : undefined;
    },
    s.pollMs,
  );
}

export function executorSuite(name: string, setup: SuiteSetup): void {
  describe(`executor conformance: ${name}`, () => {
    let s: SuiteTarget | undefined;
    const run = (title: string, fn: (s: SuiteTarget) => Promise<void>) =>
      test(title, async (t) => {
        s ??= await setup.before(t);
        if (s) await fn(s);
      });

    run("images: the local image is present, an unknown one is not", async (s) => {
      assert.equal(await s.executor.hasImage(s.image), true);
      assert.equal(await s.executor.hasImage("fleet-suite/absent:never"), false);
    });

    run("pull of an unreachable image is a typed error", async (s) => {
      const err = await s.executor.pull("127.0.0.1:1/fleet/absent:1").catch((e) => e);
      assert.ok(err instanceof ExecutorError, String(err));
      assert.ok(["image_not_found", "pull_failed"].includes(err.code), err.code);
    });

    run("create, list by label, start, stop, remove", async (s) => {
      const c = config(s, { env: ["A=1"] });
      const id = await s.executor.create(c);
      const listed = await s.executor.list({ "fleet.suite.case": c.labels["fleet.suite.case"]! });
      assert.deepEqual(
        listed.map((i) => i.id),
        [id],
      );
      assert.equal(listed[0]!.state, "created");
      assert.equal(listed[0]!.labels[s.label[0]], s.label[1]);
      await s.executor.start(id);
      await s.executor.start(id);
      const running = await inState(s, id, (i) => i.state === "running");
      assert.ok(running.startedAt > 0);
      await s.executor.stop(id, 1000);
      const stopped = await inState(s, id, (i) => i.state === "exited");
      assert.equal(typeof stopped.exitCode, "number");
      await s.executor.stop(id, 1000);
      await s.executor.remove(id);
      assert.equal(await s.executor.inspect(id), undefined);
      await s.executor.remove(id);
    });

    run("wait returns the exit code; inspect shows it", async (s) => {
      const id = await s.executor.create(config(s, { args: ["sh", "-c", "exit 3"] }));
      await s.executor.start(id);
      assert.equal(await s.executor.wait(id), 3);
      const i = await inState(s, id, (x) => x.state === "exited");
      assert.equal(i.exitCode, 3);
      // Docker can stamp a process that exits at once as finished a hair before it records the
      // start (they come from different events): allow a second of slack, no more.
      assert.ok(i.startedAt > 0 && i.finishedAt > 0, JSON.stringify(i));
      assert.ok(i.finishedAt >= i.startedAt - 1000, JSON.stringify(i));
      await s.executor.remove(id);
    });

    run("a stopped container starts again (in-place restart)", async (s) => {
      const id = await s.executor.create(config(s, {}));
      await s.executor.start(id);
      await s.executor.stop(id, 0);
      await inState(s, id, (i) => i.state === "exited");
      await s.executor.start(id);
      await inState(s, id, (i) => i.state === "running");
      await s.executor.remove(id);
    });

    run("healthchecks report healthy and unhealthy", async (s) => {
      const hc = { intervalMs: 200, timeoutMs: 1000, retries: 1 };
      const good = await s.executor.create(
        config(s, { healthcheck: { test: ["CMD-SHELL", "true"], ...hc } }),
      );
      const bad = await s.executor.create(
        config(s, { healthcheck: { test: ["CMD-SHELL", "false"], ...hc } }),
      );
      await s.executor.start(good);
      await s.executor.start(bad);
      await inState(s, good, (i) => i.health === "healthy");
      await inState(s, bad, (i) => i.health === "unhealthy");
      await s.executor.remove(good);
      await s.executor.remove(bad);
    });

    run("logs hold the container's output", async (s) => {
      const id = await s.executor.create(
        config(s, { args: ["sh", "-c", "echo fleet-hello; exit 0"] }),
      );
      await s.executor.start(id);
      await s.executor.wait(id);
      assert.match(await s.executor.logs(id, 10), /fleet-hello/);
      await s.executor.remove(id);
    });

    run("missing containers and images are typed errors", async (s) => {
      assert.equal(await s.executor.inspect("fleet-suite-absent"), undefined);
      const err = await s.executor.start("fleet-suite-absent").catch((e) => e);
      assert.ok(err instanceof ExecutorError && err.code === "not_found", String(err));
      const img = await s.executor
        .create(config(s, { image: "fleet-suite/absent:never" }))
        .catch((e) => e);
      assert.ok(img instanceof ExecutorError && img.code === "image_not_found", String(img));
    });

    run("a name in use is a conflict", async (s) => {
      const c = config(s, {});
      const id = await s.executor.create(c);
      const err = await s.executor.create(c).catch((e) => e);
      assert.ok(err instanceof ExecutorError && err.code === "conflict", String(err));
      await s.executor.remove(id);
    });

    test("cleanup", async () => {
      await setup.after();
    });
  });
}
