// The placement constraint language: parse once (parse.ts), match many (match.ts).
export { ConstraintError, type ConstraintErrorCode } from "./errors.ts";
export { globMatch } from "./glob.ts";
export { KNOWN_KEYS, parseTarget, resolveTarget, suggestKey } from "./keys.ts";
export { firstUnsatisfied, matchConstraint, matchConstraints } from "./match.ts";
export { parseConstraint, parseConstraints } from "./parse.ts";
export {
  type NormalPlatform,
  normalizeArch,
  normalizePlatform,
  normalizeVariant,
  platformSatisfies,
} from "./platform.ts";
export type * from "./types.ts";
export { MEMORY_UNITS, parseQuantity } from "./units.ts";
