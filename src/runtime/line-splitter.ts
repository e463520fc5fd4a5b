import { StringDecoder } from "node:string_decoder";

/** Longest line delivered whole, in characters: output without newlines cannot grow a line without bound. */
export const MAX_LINE_LENGTH = 65_536;

/** Ends every piece of a line that was cut at the maximum length; the next piece carries on where it stopped. */
export const LINE_CUT_MARKER = " [fieldtest: line cut, continued on the next line]";

export interface LineSplitterOptions {
  /** Default MAX_LINE_LENGTH. */
  maxLineLength?: number;
}

/**
 * Cuts a byte stream into lines, holding a partial last line until its newline arrives.
 * Bytes are decoded with a streaming decoder, so a multibyte character split across two
 * chunks arrives whole; each chunk is scanned once, so output without newlines costs
 * linear time, and a line longer than the maximum is delivered in marked pieces.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  readonly #onLine: (line: string) => void;
  readonly #max: number;
  #pending = "";
  #scanned = 0;

  constructor(onLine: (line: string) => void, options: LineSplitterOptions = {}) {
    const max = options.maxLineLength ?? MAX_LINE_LENGTH;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxLineLength must be a positive integer, got ${max}`);
    this.#onLine = onLine;
    this.#max = max;
  }

  /** Characters looked at so far: the work done, which stays proportional to the input. */
  get scannedCharacters(): number {
    return this.#scanned;
  }

  push(chunk: Buffer | string): void {
    this.#take(typeof chunk === "string" ? chunk : this.#decoder.write(chunk));
  }

  flush(): void {
    this.#take(this.#decoder.end());
    if (this.#pending !== "") this.#onLine(this.#pending);
    this.#pending = "";
  }

  #take(text: string): void {
    this.#scanned += text.length;
    let start = 0;
    for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", start)) {
      this.#pending += text.slice(start, newline);
      this.#cutLongPending();
      this.#onLine(this.#pending);
      this.#pending = "";
      start = newline + 1;
    }
    this.#pending += text.slice(start);
    this.#cutLongPending();
  }

  /** Delivers full-length pieces while more than one piece is held, so a held line stays short. */
  #cutLongPending(): void {
    while (this.#pending.length > this.#max) {
      // Never between the two halves of a surrogate pair (an emoji, say).
      const high = this.#pending.charCodeAt(this.#max - 1);
      const cut = high >= 0xd800 && high <= 0xdbff && this.#max > 1 ? this.#max - 1 : this.#max;
      this.#onLine(this.#pending.slice(0, cut) + LINE_CUT_MARKER);
      this.#pending = this.#pending.slice(cut);
    }
  }
}
