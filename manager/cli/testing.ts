// Test helpers for the CLI: an API server on a unix socket in a temp dir (in the test process)
// and the real CLI entry run as a child process against it.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiServer } from "../api/server.ts";
import { type TestWorld, testWorld } from "../api/testing.ts";
import { DevTokenSource } from "../api/tokens.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Running extends TestWorld {
  api: ApiServer;
  socket: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startApi(world: TestWorld = testWorld()): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-"));
  const socket = join(dir, "fleet.sock");
  world.ctx.now = () => Date.now();
  const api = new ApiServer(world.ctx, { socketPath: socket, tokens: new DevTokenSource("c1") });
  await api.start();
  return {
    ...world,
    api,
    socket,
    dir,
    stop: async () => {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fleet ARGS` through the real entry (node --import tsx manager/cli/main.ts). */
export function fleet(
  args: string[],
  opts: { socket?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Result> {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  delete env.NODE_TEST_CONTEXT;
  if (opts.socket) env.FLEET_HOST = `unix://${opts.socket}`;
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ["--import", "tsx", join(ROOT, "manager/cli/main.ts"), ...args],
      { cwd: ROOT, env, timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}
