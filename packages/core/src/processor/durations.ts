/** How many recent exports the typical duration looks at. */
const DURATION_SAMPLES = 32;

/**
 * The typical duration of an exporter's successful exports: the (lower) median of the last
 * {@link DURATION_SAMPLES}. A median, not a mean: a destination that hangs a tenth of its requests for
 * seconds leaves it where the other nine tenths are, while one that became slow for every request
 * moves it within half a window.
 */
export class Durations {
  readonly #samples = new Float64Array(DURATION_SAMPLES);
  #count = 0;
  #median: number | undefined;

  /** The median of the samples so far; undefined before the first. */
  get typical(): number | undefined {
    return this.#median;
  }

  add(ms: number): void {
    this.#samples[this.#count % DURATION_SAMPLES] = ms;
    this.#count++;
    const n = Math.min(this.#count, DURATION_SAMPLES);
    const sorted = this.#samples.slice(0, n).sort();
    this.#median = sorted[(n - 1) >> 1];
  }
}
