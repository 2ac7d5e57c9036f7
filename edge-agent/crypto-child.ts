// The agent's X.509/ASN.1 and signature work in a short-lived child process: the same program
// run as `edge-agent _crypto` reads one JSON request on stdin, writes one JSON answer on stdout
// and exits, so the long-running agent never loads those libraries (~10 MB that would stay:
// docs/agent.md). Keys and tokens travel on stdin/stdout only, never in argv or the
// environment. Requests: a renewal's csr and the check of the CA's answer (renewal-crypto.ts),
// and a first-boot join (join/enrol.ts: the join runs, and writes the data dir, in the child).
// A child that fails, answers garbage or outlives its timeout is a CryptoChildError; the
// renewal retries later, a first-boot join retries with backoff.

import { spawn } from "node:child_process";
import { CryptoError, type CryptoErrorCode } from "../core/crypto/errors.ts";
import { FleetError } from "../core/errors.ts";
import type { JoinResult } from "./join/client.ts";
import type { EnrolOptions } from "./join/enrol.ts";
import { JoinError, type JoinErrorCode } from "./join/errors.ts";
import type { CheckRequest, CsrAnswer, CsrRequest, RenewalCrypto } from "./renewal-crypto.ts";

export const CRYPTO_COMMAND = "_crypto";
/** Largest request or answer (certificates and keys are a few KB). */
const MAX_BYTES = 256 * 1024;

export type CryptoChildErrorCode = "failed" | "timeout" | "bad-answer";

export class CryptoChildError extends FleetError {
  declare readonly code: CryptoChildErrorCode;

  constructor(code: CryptoChildErrorCode, message: string) {
    super("crypto-child", code, message, true);
    this.name = "CryptoChildError";
  }
}

/** How to start this program again: the bundle (or, from sources, tsx's loader and main.ts). */
export interface ChildCommand {
  file: string;
  args: string[];
}

export function selfCommand(): ChildCommand {
  const entry = process.argv[1];
  if (!entry) throw new CryptoChildError("failed", "no entry script to start the crypto child");
  return { file: process.execPath, args: [...process.execArgv, entry, CRYPTO_COMMAND] };
}

type Request =
  | ({ op: "csr" } & Omit<CsrRequest, "randomBytes">)
  | ({ op: "check" } & CheckRequest)
  | ({ op: "join" } & Omit<EnrolOptions, "log">);

type Answer =
  | { ok: true; value: unknown }
  | { ok: false; error: { name: string; code: string; message: string } };

/** Runs one request in a child; resolves its value, rejects with the child's typed error. */
export function runInChild(
  req: Request,
  o: { timeoutMs: number; command?: ChildCommand },
): Promise<unknown> {
  const cmd = o.command ?? selfCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.file, cmd.args, { stdio: ["pipe", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new CryptoChildError("timeout", `no answer within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    child.on("error", (err) => fail(new CryptoChildError("failed", err.message)));
    child.stdin.on("error", () => {}); // a child that died early: reported on close
    child.stdout.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_BYTES) fail(new CryptoChildError("bad-answer", "answer too large"));
      else chunks.push(b);
    });
    child.on("close", (code, signal) => {
      if (done) return;
      let a: Answer;
      try {
        a = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Answer;
        if (typeof a !== "object" || a === null || typeof a.ok !== "boolean") throw new Error();
      } catch {
        fail(new CryptoChildError("failed", `exited (${signal ?? code}) without an answer`));
        return;
      }
      done = true;
      clearTimeout(timer);
      if (a.ok) resolve(a.value);
      else reject(typedError(a.error));
    });
    child.stdin.end(JSON.stringify(req));
  });
}

function typedError(e: { name?: unknown; code?: unknown; message?: unknown }): Error {
  const message = String(e.message ?? "failed").replace(/^(join|crypto): /, "");
  if (e.name === "JoinError") return new JoinError(String(e.code) as JoinErrorCode, message);
  if (e.name === "CryptoError") return new CryptoError(String(e.code) as CryptoErrorCode, message);
  return new CryptoChildError("failed", message);
}

/** The renewal's crypto in a child per operation. */
export function childCrypto(o: { timeoutMs?: number; command?: ChildCommand } = {}): RenewalCrypto {
  const run = { timeoutMs: o.timeoutMs ?? 30_000, ...(o.command ? { command: o.command } : {}) };
  return {
    async csr(r) {
      const { randomBytes: _, ...req } = r;
      const v = (await runInChild({ op: "csr", ...req }, run)) as {
        body?: unknown;
        nextKeyPem?: unknown;
      };
      if (typeof v?.body !== "string" || typeof v.nextKeyPem !== "string")
        throw new CryptoChildError("bad-answer", "csr answer malformed");
      return { body: new Uint8Array(Buffer.from(v.body, "base64")), nextKeyPem: v.nextKeyPem };
    },
    async check(r) {
      await runInChild({ op: "check", ...r }, run);
    },
  };
}

/** A first-boot join in a child (it writes the data dir there); JoinErrors come back typed. */
export async function joinInChild(
  o: Omit<EnrolOptions, "log">,
  run: { timeoutMs: number; command?: ChildCommand },
): Promise<JoinResult> {
  return (await runInChild({ op: "join", ...o }, run)) as JoinResult;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const b of process.stdin as AsyncIterable<Buffer>) {
    size += b.length;
    if (size > MAX_BYTES) throw new CryptoError("bad-input", "request too large");
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function serve(req: Request, log: (line: string) => void): Promise<unknown> {
  if (req.op === "join") {
    const { op: _, ...o } = req;
    return (await import("./join/enrol.ts")).enrolAgent({ ...o, log });
  }
  const { inProcessCrypto } = await import("./renewal-crypto.ts");
  const c = inProcessCrypto(await import("./renewal-ops.ts"));
  if (req.op === "csr") {
    const { op: _, ...r } = req;
    const a = (await c.csr(r)) as CsrAnswer;
    return { body: Buffer.from(a.body).toString("base64"), nextKeyPem: a.nextKeyPem };
  }
  if (req.op === "check") {
    const { op: _, ...r } = req;
    await c.check(r);
    return null;
  }
  throw new CryptoError("bad-input", "unknown request");
}

/** `edge-agent _crypto`: one request from stdin, one answer on stdout. */
export async function cryptoCommand(log: (line: string) => void): Promise<never> {
  let a: Answer;
  try {
    const req = JSON.parse(await readStdin()) as Request;
    a = { ok: true, value: await serve(req, log) };
  } catch (err) {
    const e = err as Partial<FleetError>;
    a = {
      ok: false,
      error: { name: String(e.name), code: String(e.code ?? "failed"), message: String(e.message) },
    };
  }
  await new Promise<void>((r) => process.stdout.write(JSON.stringify(a), () => r()));
  // Nothing of the request may keep this process alive (a join's sockets, timers).
  process.exit(0);
}
