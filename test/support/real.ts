// Real parts for tests: a Docker engine, mosquitto, free loopback ports. A test that needs a
// part calls `need(t, part)`: when the part is missing it fails under CI=true and otherwise
// skips loudly, saying what to install. Tests clean up what they start, by pid and by label.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { ensureBusyboxImage } from "../../scripts/busybox-image.mjs";
import { freePort } from "../../scripts/free-port.mjs";

export type Part = "docker" | "mosquitto" | "busybox";

const INSTALL: Record<Part, string> = {
  docker: "apt-get install -y docker.io, then start dockerd (bash .ci/run does both)",
  mosquitto: "apt-get install -y mosquitto mosquitto-clients",
  busybox: "apt-get install -y busybox-static",
};

/** Label every test container carries, so cleanup can find them. */
export const TEST_LABEL = "fleet.test";
export const TEST_IMAGE = "fleet-test/busybox:latest";

function ok(cmd: string, args: string[], timeoutMs = 10_000): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: timeoutMs });
  return r.status === 0;
}

const probes: Record<Part, () => boolean> = {
  docker: () => ok("docker", ["info"]),
  mosquitto: () =>
    ok("sh", [
      "-c",
      "command -v mosquitto && command -v mosquitto_sub && command -v mosquitto_pub",
    ]),
  busybox: () => ok("sh", ["-c", "test -x /bin/busybox || command -v busybox"]),
};

const cache = new Map<Part, boolean>();

export function have(part: Part): boolean {
  let v = cache.get(part);
  if (v === undefined) {
    v = probes[part]();
    cache.set(part, v);
  }
  return v;
}

/**
 * Returns true when every part is present. Otherwise: under CI=true the test fails; elsewhere it
 * is skipped with a loud message naming what to install. Use: `if (!need(t, "docker")) return;`
 */
export function need(t: TestContext, ...parts: Part[]): boolean {
  const missing = parts.filter((p) => !have(p));
  if (missing.length === 0) return true;
  const what = missing.map((p) => `${p} (${INSTALL[p]})`).join("; ");
  if (process.env.CI === "true") throw new Error(`missing real part under CI=true: ${what}`);
  const msg = `SKIPPED for want of ${what}`;
  console.warn(`\n*** ${t.name}: ${msg} ***\n`);
  t.skip(msg);
  return false;
}

/** A free TCP port on 127.0.0.1, drawn outside the ephemeral range (see scripts/free-port.mjs). */
export { freePort };

/** Builds the busybox test image with `docker import` (no registry is reachable). Idempotent. */
export function ensureTestImage(): string {
  return ensureBusyboxImage(TEST_IMAGE);
}

/** Removes every container carrying the test label (and a given value, if any). */
export function removeTestContainers(value?: string): void {
  const filter = value === undefined ? TEST_LABEL : `${TEST_LABEL}=${value}`;
  const ids = spawnSync("docker", ["ps", "-aq", "--filter", `label=${filter}`], {
    encoding: "utf8",
  })
    .stdout.split("\n")
    .filter(Boolean);
  if (ids.length > 0) spawnSync("docker", ["rm", "-f", ...ids], { stdio: "ignore" });
}

export interface Mosquitto {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a real mosquitto on 127.0.0.1 with anonymous access (for tests only). */
export async function startMosquitto(extraConfig = ""): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "fleet-mosquitto-"));
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n${extraConfig}\n`,
  );
  const m = await runMosquitto(conf, [port]);
  return {
    port,
    process: m.process,
    stop: async () => {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningMosquitto {
  process: ChildProcess;
  /** What mosquitto wrote on stderr so far. */
  log(): string;
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

/** Runs mosquitto with a configuration file and waits until every port accepts connections. */
export async function runMosquitto(conf: string, ports: number[]): Promise<RunningMosquitto> {
  const proc = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`mosquitto did not start on port ${port}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    process: proc,
    log: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      }),
  };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1");
  });
}
