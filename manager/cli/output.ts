// Output like Docker's: aligned tables with three spaces between columns, short ids, "5 minutes
// ago" times, JSON for machines.

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal (progress redraws in place). */
  isTTY: boolean;
  env: Record<string, string | undefined>;
  /** Wall clock, for "ago" columns and waits. */
  now(): number;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export const shortId = (id: string, full = false) => (full ? id : id.slice(0, 12));

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function ago(nowMs: number, thenMs: number | undefined): string {
  if (!thenMs) return "";
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 2) return "Less than a second ago";
  if (s < 60) return `${s} seconds ago`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? "About a minute ago" : `${m} minutes ago`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? "About an hour ago" : `${h} hours ago`;
  return `${Math.round(h / 24)} days ago`;
}

export const cap = (s: string) => (s === "" ? s : s[0]!.toUpperCase() + s.slice(1));

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
