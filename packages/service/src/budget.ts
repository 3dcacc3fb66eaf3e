/**
 * The service-wide bound on request bytes held while being read, decoded and parsed
 * (`maxInFlightBytes`), shared by HTTP bodies and gRPC messages: a load shedder's budget. A request
 * reserves bytes before it holds them and gives them back once they are parsed (or refused, or the
 * client went away); a reservation that does not fit is refused at once, so the bytes held by all
 * requests together never exceed {@link ByteBudget.max}.
 */
export class ByteBudget {
  /** The most bytes reserved at once. */
  readonly max: number;
  #used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Bytes reserved now; 0 when no request is being read. */
  get used(): number {
    return this.#used;
  }

  /**
   * Reserves `bytes`; answers the function that gives them back (only its first call counts), or
   * undefined when they do not fit now (nothing is reserved then).
   */
  reserve(bytes: number): (() => void) | undefined {
    if (this.#used + bytes > this.max) return undefined;
    this.#used += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#used -= bytes;
    };
  }
}
