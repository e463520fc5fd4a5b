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

/** The newest lines of each agent+daemon stream, each stream in a ring of its own. */
export class LogRings {
  readonly linesPerStream: number;
  readonly #streams = new Map<string, Stream>();
  /** Lines come in bursts from one stream: the last one is found without building its key. */
  #last: Stream | undefined;

  constructor(linesPerStream: number) {
    this.linesPerStream = linesPerStream;
  }

  push(log: LogLine): void {
    let stream = this.#last;
    if (stream?.agent !== log.agent || stream.daemon !== log.daemon) {
      const key = `${log.agent}\u0000${log.daemon}`;
      stream = this.#streams.get(key);
      if (!stream) {
        stream = { agent: log.agent, daemon: log.daemon, ring: new Ring<LogLine>(this.linesPerStream) };
        this.#streams.set(key, stream);
      }
      this.#last = stream;
    }
    stream.ring.push(log);
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
