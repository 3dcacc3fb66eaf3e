/** Upper bounds (seconds) of the commit-latency buckets, Prometheus style (plus `+Inf`). */
export const COMMIT_SECONDS_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram as Prometheus exposes it: cumulative counts per upper bound, the sum and the count. */
export interface HistogramSnapshot {
  /** `count` of observations `<= le`, ascending; the last bucket is `le: Infinity`. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

/** Counts observations into fixed buckets; O(buckets) per observation, nothing allocated. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    let cumulative = 0;
    const buckets = this.#counts.map((n, i) => {
      cumulative += n;
      return { le: this.#bounds[i] ?? Infinity, count: cumulative };
    });
    return { buckets, sum: this.#sum, count: this.#count };
  }
}
