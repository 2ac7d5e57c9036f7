// Container output from Docker, line by line with the engine's timestamps: the multiplexed
// log stream (8-byte frame headers: stream, 0, 0, 0, size) of a container without a TTY,
// followed or not. The parser is incremental: frames and lines may arrive split anywhere.

import type Docker from "dockerode";
import type { WireLogLine } from "../core/codec/index.ts";
import type { LogStreamer } from "./logs.ts";

type Stream = WireLogLine["stream"];

/** Splits a multiplexed Docker log stream into timestamped lines. */
export class LogFrames {
  #buf: Buffer = Buffer.alloc(0);
  readonly #partial: Record<Stream, string> = { stdout: "", stderr: "" };

  constructor(private readonly onLine: (l: WireLogLine) => void) {}

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 8) {
      const size = this.#buf.readUInt32BE(4);
      if (this.#buf.length < 8 + size) break;
      const stream: Stream = this.#buf[0] === 2 ? "stderr" : "stdout";
      this.#text(stream, this.#buf.subarray(8, 8 + size).toString("utf8"));
      this.#buf = this.#buf.subarray(8 + size);
    }
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    for (const s of ["stdout", "stderr"] as const) {
      if (this.#partial[s] !== "") this.#line(s, this.#partial[s]);
      this.#partial[s] = "";
    }
  }

  #text(stream: Stream, text: string): void {
    const parts = (this.#partial[stream] + text).split("\n");
    this.#partial[stream] = parts.pop()!;
    for (const p of parts) this.#line(stream, p);
  }

  /** `2024-05-01T10:00:00.123456789Z text` (timestamps: true) -> ts and text. */
  #line(stream: Stream, raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const sp = line.indexOf(" ");
    const ts = sp > 0 ? Date.parse(line.slice(0, sp)) : Number.NaN;
    if (Number.isNaN(ts)) this.onLine({ ts: 0, stream, text: line });
    else this.onLine({ ts, stream, text: line.slice(sp + 1) });
  }
}

export function dockerStreamer(docker: Docker): LogStreamer {
  return {
    async stream(id, o, onLine) {
      const frames = new LogFrames(onLine);
      const opts = {
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(o.tail !== undefined ? { tail: o.tail } : {}),
        ...(o.sinceMs !== undefined ? { since: Math.floor(o.sinceMs / 1000) } : {}),
      };
      const c = docker.getContainer(id);
      if (!o.follow) {
        const buf = await c.logs({ ...opts, follow: false });
        frames.push(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
        frames.end();
        return;
      }
      const stream = await c.logs({ ...opts, follow: true });
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          stream.removeAllListeners("data");
          (stream as unknown as { destroy(): void }).destroy();
          resolve();
        };
        if (o.signal.aborted) return stop();
        o.signal.addEventListener("abort", stop, { once: true });
        stream.on("data", (d: Buffer) => frames.push(d));
        stream.on("end", () => {
          frames.end();
          o.signal.removeEventListener("abort", stop);
          resolve();
        });
        stream.on("error", (err: Error) => {
          o.signal.removeEventListener("abort", stop);
          if (o.signal.aborted) resolve();
          else reject(err);
        });
      });
    },
  };
}
