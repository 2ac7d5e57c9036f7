// Logging and the accounting of dropped device input. Bad input from one device costs only
// that message: it is counted by reason, and logged at most once per reason per
// limits.dropLogIntervalMs (with how many were suppressed), so a misbehaving fleet cannot flood
// the manager's log.

import { limits } from "../../core/limits.ts";
import type { Clock } from "./clock.ts";

export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

function line(level: string, msg: string, fields?: Fields): string {
  return JSON.stringify({ level, module: "dispatcher", msg, ...fields });
}

/** Structured lines on stderr; info is silent unless FLEET_LOG=info. */
export const stderrLogger: Logger = {
  info: (msg, fields) => {
    if (process.env.FLEET_LOG === "info") console.error(line("info", msg, fields));
  },
  warn: (msg, fields) => console.error(line("warn", msg, fields)),
  error: (msg, fields) => console.error(line("error", msg, fields)),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export const dropReasons = [
  "oversized",
  "malformed",
  "bad_topic",
  "node_mismatch",
  "unknown_node",
  "unknown_task",
  "wrong_node",
  "backwards",
  "queue_full",
  "write_failed",
  "handler_error",
  "bad_addr",
] as const;

export type DropReason = (typeof dropReasons)[number];

export class Drops {
  readonly counts = Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<
    DropReason,
    number
  >;
  readonly #lastLog = new Map<DropReason, { at: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Counts one dropped message (or update) and maybe logs it. */
  drop(reason: DropReason, detail: string, fields?: Fields): void {
    this.counts[reason]++;
    const now = this.clock.now();
    const last = this.#lastLog.get(reason);
    if (last && now - last.at < limits.dropLogIntervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastLog.set(reason, { at: now, suppressed: 0 });
    this.log.warn(`dropped device input: ${detail}`, { reason, suppressed, ...fields });
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}
