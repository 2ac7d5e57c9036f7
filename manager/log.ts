// Structured log lines for daemons: one line per event, logfmt (`ts=… level=… comp=… msg="…"
// key=value`), to stderr, so systemd's journal and any log shipper read them as they are.

export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
  /** A plain `(line) => void` sink for modules that take one. */
  line(level?: Level): (line: string) => void;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function quote(v: unknown): string {
  const s = typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);
  return /^[A-Za-z0-9_./:@+-]+$/.test(s ?? "") ? (s ?? "") : JSON.stringify(s ?? "");
}

export function formatLine(
  level: Level,
  component: string,
  msg: string,
  fields: Record<string, unknown> = {},
  ts = new Date(),
): string {
  const parts = [
    `ts=${ts.toISOString()}`,
    `level=${level}`,
    `comp=${component}`,
    `msg=${quote(msg)}`,
  ];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${quote(v)}`);
  return parts.join(" ");
}

export function createLogger(
  component: string,
  opts: { level?: Level; write?: (line: string) => void } = {},
): Logger {
  const min = ORDER[opts.level ?? ((process.env.FLEET_LOG_LEVEL as Level) || "info")] ?? 1;
  const write = opts.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] >= min) write(formatLine(level, component, msg, fields));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (c) => createLogger(`${component}.${c}`, opts),
    line:
      (level = "info") =>
      (l) =>
        emit(level, l),
  };
}
