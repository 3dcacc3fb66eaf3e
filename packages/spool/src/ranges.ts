/**
 * A set of integers kept as sorted, disjoint, non-adjacent half-open ranges `[from, to)`. The spool
 * uses it for sequence numbers: the released ones (persisted with every commit) and the taken ones.
 * It stays small: ranges merge as they meet, and the spool prunes what no stored group needs.
 */
export class RangeSet {
  /** `[from0, to0, from1, to1, ...]`, ascending; `to_i < from_{i+1}` (adjacent ranges are merged). */
  #r: number[] = [];

  /** Builds a set from `[from, to]` pairs in any order (overlaps are merged). */
  static from(pairs: readonly (readonly [number, number])[]): RangeSet {
    const set = new RangeSet();
    for (const [from, to] of pairs) set.add(from, to);
    return set;
  }

  /** Number of ranges. */
  get ranges(): number {
    return this.#r.length >> 1;
  }

  /** How many integers the set holds. */
  get count(): number {
    const r = this.#r;
    let n = 0;
    for (let i = 0; i < r.length; i += 2) n += r[i + 1]! - r[i]!;
    return n;
  }

  /** The ranges as `[from, to]` pairs (a copy). */
  toPairs(): [number, number][] {
    const r = this.#r;
    const pairs: [number, number][] = [];
    for (let i = 0; i < r.length; i += 2) pairs.push([r[i]!, r[i + 1]!]);
    return pairs;
  }

  /** Index (even) of the first range whose `to` is greater than `x`; `r.length` when none. */
  #firstEndingAfter(x: number): number {
    const r = this.#r;
    let lo = 0;
    let hi = r.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[2 * mid + 1]! > x) hi = mid;
      else lo = mid + 1;
    }
    return 2 * lo;
  }

  /** Adds `[from, to)`; returns how many integers were not in the set before. */
  add(from: number, to: number): number {
    if (!(from < to)) return 0;
    const r = this.#r;
    const n = r.length;
    // Fast path: appending at or after the end (the common case: keys grow).
    if (n === 0 || from > r[n - 1]!) {
      r.push(from, to);
      return to - from;
    }
    if (from === r[n - 1]! && from >= r[n - 2]!) {
      r[n - 1] = to;
      return to - from;
    }
    // General case: merge every range that overlaps or touches [from, to).
    const i = this.#firstEndingAfter(from - 1); // first range with to >= from (touching counts)
    let covered = 0;
    let start = from;
    let end = to;
    let j = i;
    while (j < n && r[j]! <= to) {
      covered += Math.min(r[j + 1]!, to) - Math.max(r[j]!, from);
      if (r[j]! < start) start = r[j]!;
      if (r[j + 1]! > end) end = r[j + 1]!;
      j += 2;
    }
    r.splice(i, j - i, start, end);
    return to - from - covered;
  }

  /** Removes `[from, to)`; returns how many integers were removed. */
  subtract(from: number, to: number): number {
    if (!(from < to)) return 0;
    const r = this.#r;
    const i = this.#firstEndingAfter(from);
    let j = i;
    let removed = 0;
    const keep: number[] = [];
    while (j < r.length && r[j]! < to) {
      const a = r[j]!;
      const b = r[j + 1]!;
      removed += Math.min(b, to) - Math.max(a, from);
      if (a < from) keep.push(a, from);
      if (b > to) keep.push(to, b);
      j += 2;
    }
    if (j > i) r.splice(i, j - i, ...keep);
    return removed;
  }

  /** True when `x` is in the set. */
  has(x: number): boolean {
    const i = this.#firstEndingAfter(x);
    return i < this.#r.length && this.#r[i]! <= x;
  }

  /** True when every integer of `[from, to)` is in the set. */
  covers(from: number, to: number): boolean {
    if (!(from < to)) return true;
    const i = this.#firstEndingAfter(from);
    return i < this.#r.length && this.#r[i]! <= from && this.#r[i + 1]! >= to;
  }

  /** How many integers of `[from, to)` are in the set. */
  countIn(from: number, to: number): number {
    const r = this.#r;
    let n = 0;
    for (let i = this.#firstEndingAfter(from); i < r.length && r[i]! < to; i += 2) {
      n += Math.min(r[i + 1]!, to) - Math.max(r[i]!, from);
    }
    return n;
  }

  /** The smallest integer `>= x` that is not in the set. */
  nextAbsent(x: number): number {
    const i = this.#firstEndingAfter(x);
    return i < this.#r.length && this.#r[i]! <= x ? this.#r[i + 1]! : x;
  }

  /** The smallest integer `>= x` that is in the set, or `Infinity`. */
  nextPresent(x: number): number {
    const i = this.#firstEndingAfter(x);
    return i < this.#r.length ? Math.max(this.#r[i]!, x) : Infinity;
  }

  /** Empties the set. */
  clear(): void {
    this.#r = [];
  }
}
