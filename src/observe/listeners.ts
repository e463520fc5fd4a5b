/**
 * The listeners of one event stream, called in the order they subscribed. The list is replaced,
 * never changed in place, so an emit walks it as it is: EventEmitter copies its list on every
 * emit that reaches more than one listener, and here an emit is a log line.
 */
export class Listeners<E> {
  #list: readonly ((event: E) => void)[] = [];

  /** Adds `listener`; returns the function that removes it. */
  add(listener: (event: E) => void): () => void {
    this.#list = [...this.#list, listener];
    return () => {
      const at = this.#list.indexOf(listener);
      if (at >= 0) this.#list = this.#list.filter((_, i) => i !== at);
    };
  }

  emit(event: E): void {
    for (const listener of this.#list) listener(event);
  }
}
