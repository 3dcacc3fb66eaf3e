/** A fixed-capacity FIFO ring: O(1) push, shift and peek, no reallocation, no `Array.shift`. */
export class RingBuffer<T> {
  readonly capacity: number;
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends; the caller checks `size < capacity` first. */
  push(item: T): void {
    let i = this.#head + this.#size;
    if (i >= this.capacity) i -= this.capacity;
    this.#items[i] = item;
    this.#size++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Replaces the oldest item; the caller checks `size > 0` first. */
  replacePeek(item: T): void {
    this.#items[this.#head] = item;
  }

  /** The item `index` places after the oldest (0: the oldest), or undefined when `index` is not below `size`. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#size) return undefined;
    let i = this.#head + index;
    if (i >= this.capacity) i -= this.capacity;
    return this.#items[i];
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = this.#head + 1 === this.capacity ? 0 : this.#head + 1;
    this.#size--;
    return item;
  }

  /** Empties the ring and returns how many items it held. */
  clear(): number {
    const n = this.#size;
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    return n;
  }
}
