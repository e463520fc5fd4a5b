import { Ring } from "./ring.ts";

export interface LogLine {
  /** ISO time the line was received. */
  time: string;
  agent: string;
  daemon: string;
  line: string;
}

export interface LogFilter {
  agent?: string;
  daemon?: string;
}

interface Stream {
  agent: string;
  daemon: string;
  ring: Ring<LogLine>;
}

/** A stream keeps at least this many lines however many streams share `totalLines`. */
export const MIN_LINES_PER_STREAM = 20;

/**
 * The newest lines of each agent+daemon stream, each stream in a ring of its own: up to
 * `linesPerStream` each, and at most about `totalLines` in all (but never fewer than
 * MIN_LINES_PER_STREAM a stream, or linesPerStream when that is smaller): past
 * totalLines / linesPerStream streams, they share what that many would hold.
 */
export class LogRings {
  readonly linesPerStream: number;
  readonly totalLines: number;
  readonly #streams = new Map<string, Stream>();
  /** Lines come in bursts from one stream: the last one is found without building its key. */
  #last: Stream | undefined;
  /** What each ring holds now: linesPerStream until the streams outgrow totalLines. */
  #perStream: number;
  /** Every ring was last cut to this; they are cut again when #perStream falls a quarter below. */
  #cutTo: number;

  constructor(linesPerStream: number, totalLines = Number.POSITIVE_INFINITY) {
    this.linesPerStream = linesPerStream;
    this.totalLines = totalLines;
    this.#perStream = linesPerStream;
    this.#cutTo = linesPerStream;
  }

  /** Lines a stream keeps now. */
  get perStream(): number {
    return this.#perStream;
  }

  push(log: LogLine): void {
    let stream = this.#last;
    if (stream?.agent !== log.agent || stream.daemon !== log.daemon) {
      const key = `${log.agent}\u0000${log.daemon}`;
      stream = this.#streams.get(key);
      if (!stream) {
        const shares = Math.floor(this.totalLines / (this.#streams.size + 1));
        this.#perStream = Math.min(this.linesPerStream, Math.max(MIN_LINES_PER_STREAM, shares));
        if (this.#perStream <= this.#cutTo * 0.75) this.#cutAll();
        stream = { agent: log.agent, daemon: log.daemon, ring: new Ring<LogLine>(this.#perStream) };
        this.#streams.set(key, stream);
      }
      this.#last = stream;
    }
    if (stream.ring.capacity > this.#perStream) this.#cut(stream);
    stream.ring.push(log);
  }

  /**
   * Rings are cut all at once only in steps of a quarter (a few times as a fleet's streams
   * start), so no ring holds more than 4/3 of its share; in between, a ring is cut when its
   * stream next speaks.
   */
  #cutAll(): void {
    for (const stream of this.#streams.values()) if (stream.ring.capacity > this.#perStream) this.#cut(stream);
    this.#cutTo = this.#perStream;
  }

  #cut(stream: Stream): void {
    stream.ring = Ring.of(stream.ring.newest(this.#perStream), this.#perStream);
  }

  /** Every line held, oldest first within a stream; filtered by agent and/or daemon when given. */
  logs(filter: LogFilter = {}): LogLine[] {
    const out: LogLine[] = [];
    for (const { agent, daemon, ring } of this.#streams.values()) {
      if (filter.agent !== undefined && filter.agent !== agent) continue;
      if (filter.daemon !== undefined && filter.daemon !== daemon) continue;
      out.push(...ring.toArray());
    }
    return out;
  }

  /**
   * At most about `limit` lines, shared evenly among the streams (at least the newest line of
   * each), oldest first within a stream: what a page starting over can take at once, however
   * many agents stream.
   */
  recent(limit: number): LogLine[] {
    const perStream = Math.max(1, Math.floor(limit / Math.max(1, this.#streams.size)));
    const out: LogLine[] = [];
    for (const { ring } of this.#streams.values()) out.push(...ring.newest(perStream));
    return out;
  }

  streams(): { agent: string; daemon: string; lines: number }[] {
    return [...this.#streams.values()].map(({ agent, daemon, ring }) => ({ agent, daemon, lines: ring.size }));
  }
}
