// Glob matching for `~=`: `*` matches any run (also empty), `?` exactly one character, every
// other character itself. Linear-time greedy matching with one backtrack point, so a hostile
// pattern like `*a*a*a*b` cannot blow up on a long hostname. Callers lower-case both sides.

export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1; // position in pattern just after the last `*`
  let mark = 0; // position in text where that `*` started matching
  while (t < text.length) {
    const c = pattern[p];
    if (c === "?" || (c !== undefined && c !== "*" && c === text[t])) {
      p++;
      t++;
    } else if (c === "*") {
      star = ++p;
      mark = t;
    } else if (star >= 0) {
      p = star;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}
