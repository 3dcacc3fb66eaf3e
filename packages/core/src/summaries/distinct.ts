// A small HyperLogLog: estimates how many distinct strings were added, in fixed memory.
//
// 2^PRECISION one-byte registers (256 bytes per estimator). Adding a string hashes it (FNV-1a over
// its UTF-16 code units, then the MurmurHash3 finalizer for avalanche), takes the top PRECISION bits
// of the hash as a register index and keeps, in that register, the largest position of the first
// 1-bit of the remaining bits (distinctSlot computes index and rank, markDistinct applies them). The estimate is the HyperLogLog harmonic mean with the linear-counting
// correction for small counts (Flajolet et al. 2007): exact-ish below ~20, relative standard error
// 1.04 / sqrt(256) ≈ 6.5 % above. Adding is O(length of the string) with no allocation; estimating is
// O(256).

/** Index bits: 2^8 = 256 registers. */
const DISTINCT_PRECISION = 8;
/** Registers (and bytes) per estimator. */
export const DISTINCT_REGISTERS = 1 << DISTINCT_PRECISION;
const RANK_BITS = 32 - DISTINCT_PRECISION;
const ALPHA = 0.7213 / (1 + 1.079 / DISTINCT_REGISTERS);

/**
 * The register slot of `text`: `index * 32 + rank` (a small integer: never boxed). FNV-1a over the
 * UTF-16 code units, then the MurmurHash3 finalizer (fmix32) for avalanche; the top PRECISION bits
 * pick the register, the rank is the position of the first 1-bit among the others (1-based; all zero
 * gives RANK_BITS + 1). The hash stays in local variables: a returned uint32 above 2^30 would be boxed
 * as a heap number, an allocation on every other call.
 */
export function distinctSlot(text: string): number {
  let h = 0x811c9dc5;
  const n = text.length;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  const rank = Math.clz32((h << DISTINCT_PRECISION) | (1 << (DISTINCT_PRECISION - 1))) + 1;
  return ((h >>> RANK_BITS) << 5) | rank;
}

/** Marks a slot (from {@link distinctSlot}) in the registers (a `Uint8Array` of {@link DISTINCT_REGISTERS}). */
export function markDistinct(registers: Uint8Array, slot: number): void {
  const index = slot >>> 5;
  const rank = slot & 31;
  if (rank > (registers[index] as number)) registers[index] = rank;
}

/** The estimated number of distinct strings added to `registers` (0 when none). */
export function estimateDistinct(registers: Uint8Array): number {
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < DISTINCT_REGISTERS; i++) {
    const r = registers[i] as number;
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  if (zeros === DISTINCT_REGISTERS) return 0;
  const raw = (ALPHA * DISTINCT_REGISTERS * DISTINCT_REGISTERS) / sum;
  const estimate = raw <= 2.5 * DISTINCT_REGISTERS && zeros > 0 ? DISTINCT_REGISTERS * Math.log(DISTINCT_REGISTERS / zeros) : raw;
  return Math.max(1, Math.round(estimate));
}
