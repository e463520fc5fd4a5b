/**
 * Fixed-capacity FIFO that overwrites its oldest entry: O(1) push, no shifting, so a chatty
 * daemon or a hot metric costs the same per line/point whatever the history length.
 */
export class Ring<T> {
  readonly capacity: number;
  #items: T[] = [];
  #next = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** A ring holding `items` (the last `capacity` of them), oldest first. */
  static of<T>(items: readonly T[], capacity: number): Ring<T> {
    const ring = new Ring<T>(capacity);
    for (const item of items.slice(-capacity)) ring.push(item);
    return ring;
  }

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
    } else {
      this.#items[this.#next] = item;
    }
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Replaces the newest entry in place (used to coalesce several points into one). */
  replaceLast(item: T): void {
    if (this.#items.length === 0) throw new RangeError("ring is empty: push before replaceLast");
    this.#items[(this.#next - 1 + this.capacity) % this.capacity] = item;
  }

  /** The newest `count` entries, oldest first. */
  newest(count: number): T[] {
    const size = this.#items.length;
    const take = Math.min(Math.max(0, count), size);
    const out: T[] = [];
    // The oldest entry sits at #next once the ring is full, at 0 before.
    const first = size < this.capacity ? size - take : this.#next + size - take;
    for (let i = 0; i < take; i++) out.push(this.#items[(first + i) % size]!);
    return out;
  }

  /** Entries oldest first. */
  toArray(): T[] {
    if (this.#items.length < this.capacity) return this.#items.slice();
    return [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}
