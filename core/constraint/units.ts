// Numbers with units for numeric constraints. Decimal units are SI (1GB = 10^9 bytes, as disk
// and board vendors use them); binary units are explicit (1GiB = 2^30). Bare K/M/G/T are
// refused as ambiguous: Docker's `--memory 1g` means GiB but `1GB` on a label usually does not.

export const MEMORY_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const AMBIGUOUS = new Set(["k", "m", "g", "t"]);
const NUMBER = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)$/;

export type Quantity =
  | { ok: true; value: number }
  | { ok: false; reason: "not-a-number" | "unknown-unit" | "ambiguous-unit"; unit: string };

/**
 * Parses `1.5GB`, `512 MiB`, `4` into a number of base units. `units` false refuses any unit
 * (CPU counts).
 */
export function parseQuantity(text: string, units: boolean): Quantity {
  const m = NUMBER.exec(text.trim());
  if (!m) return { ok: false, reason: "not-a-number", unit: "" };
  const n = Number(m[1]);
  const unit = m[2]!;
  if (unit === "") return { ok: true, value: n };
  const key = unit.toLowerCase();
  if (!units) return { ok: false, reason: "unknown-unit", unit };
  if (AMBIGUOUS.has(key)) return { ok: false, reason: "ambiguous-unit", unit };
  const scale = MEMORY_UNITS[key];
  if (scale === undefined) return { ok: false, reason: "unknown-unit", unit };
  return { ok: true, value: n * scale };
}

/** How a unit is spelled in docs and suggestions. */
export const UNIT_NAMES = ["B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"] as const;
