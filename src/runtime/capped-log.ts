import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from "node:fs";

/** Bytes a batch's logs hold in memory, in all, before they write them without waiting for the turn's end. */
export const BATCH_BYTES = 256 * 1024;

/**
 * Logs whose lines are written together: each holds the lines appended in one turn of the
 * event loop and writes them in one write(2) at its end, or all of them write as soon as they
 * hold `limitBytes` in all. The bound is shared: a turn that reads a thousand agents' sockets
 * took a few MB of lines into each of a thousand logs held apart, tens of MB of strings at once.
 */
export class LogBatch {
  readonly limitBytes: number;
  readonly #holding = new Set<CappedLog>();
  #held = 0;
  #scheduled = false;

  constructor(limitBytes = BATCH_BYTES) {
    this.limitBytes = limitBytes;
  }

  /** Writes what every log of the batch holds. */
  flush(): void {
    for (const log of [...this.#holding]) log.flush();
  }

  /** Called by a log that took `bytes` more. */
  held(log: CappedLog, bytes: number): void {
    this.#held += bytes;
    this.#holding.add(log);
    if (this.#held >= this.limitBytes) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Called by a log that wrote (or dropped, closing) the `bytes` it held. */
  released(log: CappedLog, bytes: number): void {
    this.#held -= bytes;
    this.#holding.delete(log);
  }
}

/** What a capped log kept and dropped; recorded in result.json so a reader knows what is missing. */
export interface LogCapStats {
  path: string;
  capBytes: number;
  /** Bytes the daemon printed, all of them; on disk are writtenBytes − droppedBytes. */
  writtenBytes: number;
  droppedBytes: number;
  rotations: number;
}

/**
 * A log file that never holds more than `capBytes` on disk: `<path>` and one rotated
 * `<path>.1`, each up to half the cap. When `<path>` would pass its half, it becomes
 * `<path>.1` (the older `.1` is dropped, and its size counted) and a new `<path>` starts, so
 * the newest output is always kept.
 *
 * Lines appended in one turn of the event loop go out in one synchronous write(2) at its end
 * (or sooner, see LogBatch): a write per line cost a thousand streaming agents most of the
 * runner's time, and a flood still cannot pile up in memory behind a slow disk. A crash loses
 * at most the lines of the turn it happened in; `flush` and `close` write them at once.
 */
export class CappedLog {
  readonly path: string;
  readonly capBytes: number;
  #fd: number | undefined;
  #size: number;
  #rotatedSize = 0;
  #written = 0;
  #dropped = 0;
  #rotations = 0;
  /** Lines as text without their newline, and cut lines as bytes with theirs. */
  #pending: (string | Buffer)[] = [];
  #pendingBytes = 0;
  readonly #batch: LogBatch;

  /** `batch`: the logs it is written with (RunDir shares one among a run's logs); one of its own by default. */
  constructor(path: string, capBytes: number, batch = new LogBatch()) {
    if (!Number.isFinite(capBytes) || capBytes < 2) throw new Error(`log cap ${capBytes} bytes is too small: give at least 1KB, e.g. --log-cap 100MB`);
    this.path = path;
    this.capBytes = capBytes;
    this.#batch = batch;
    this.#fd = openSync(path, "a", 0o600);
    this.#size = fstatSync(this.#fd).size;
    this.#rotatedSize = sizeOf(`${path}.1`);
  }

  get #half(): number {
    return Math.floor(this.capBytes / 2);
  }

  /**
   * One line, with `stamp` and a space before it when given. The line is looked at before the
   * stamp joins it: looking at the joined text copied every line into a flat string of its own,
   * a tenth of what a thousand streaming agents made the runner allocate.
   */
  append(line: string, stamp?: string): void {
    if (this.#fd === undefined) return;
    // Held as text, not bytes: a Buffer per line kept its pooled slab alive until the turn's
    // end, tens of MB across a thousand streaming agents.
    const body = line.endsWith("\n") ? line.slice(0, -1) : line;
    const bytes = (stamp === undefined ? 0 : Buffer.byteLength(stamp) + 1) + Buffer.byteLength(body) + 1;
    const text = stamp === undefined ? body : `${stamp} ${body}`;
    this.#written += bytes;
    if (bytes > this.#half) {
      // A single line larger than half the cap keeps its start, marked as cut.
      const marker = Buffer.from(` … [fieldtest: line cut, ${bytes} bytes]\n`);
      const cut = Buffer.concat([Buffer.from(text).subarray(0, Math.max(0, this.#half - marker.length)), marker]);
      this.#dropped += Math.max(0, bytes - cut.length);
      this.#pushPending(cut, cut.length);
      return;
    }
    this.#pushPending(text, bytes);
  }

  #pushPending(chunk: string | Buffer, bytes: number): void {
    if (this.#size + bytes > this.#half) this.#rotate();
    this.#pending.push(chunk);
    this.#pendingBytes += bytes;
    this.#size += bytes;
    this.#batch.held(this, bytes);
  }

  /** Writes what this turn appended so far; a no-op once closed. */
  flush(): void {
    if (this.#fd === undefined || this.#pendingBytes === 0) return;
    const pending = this.#pending;
    this.#batch.released(this, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (pending.every((chunk) => typeof chunk === "string")) writeSync(this.#fd, `${pending.join("\n")}\n`);
    else writeSync(this.#fd, Buffer.concat(pending.map((chunk) => (typeof chunk === "string" ? Buffer.from(`${chunk}\n`) : chunk))));
  }

  #rotate(): void {
    this.flush();
    closeSync(this.#fd as number);
    this.#dropped += this.#rotatedSize;
    renameSync(this.path, `${this.path}.1`);
    this.#rotatedSize = this.#size;
    this.#rotations += 1;
    this.#fd = openSync(this.path, "a", 0o600);
    this.#size = 0;
  }

  stats(): LogCapStats {
    return { path: this.path, capBytes: this.capBytes, writtenBytes: this.#written, droppedBytes: this.#dropped, rotations: this.#rotations };
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.flush();
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** `--log-cap`: `500KB`, `100MB`, `2GB` (powers of 1024) or plain bytes. */
export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|K|MB|M|GB|G)?$/i.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a size: write e.g. 500KB, 100MB or 2GB`);
  const units: Record<string, number> = { B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };
  const bytes = Math.floor(Number(match[1]) * (units[(match[2] ?? "B").toUpperCase()] ?? 1));
  if (bytes < 1024) throw new Error(`"${text}" is below the smallest log cap of 1KB`);
  return bytes;
}

export const DEFAULT_LOG_CAP_BYTES = 100 * 1024 ** 2;
