import { closeSync, openSync, writeSync } from "node:fs";
import { isChecker, type Checker } from "../checkers/checker.ts";
import { CHECKERS, CHECKERS_EVENT, isCheckerName, type CheckerName } from "../checkers/names.ts";
import type { EventEntry, HeaderEntry, OpType } from "./entry.ts";
import type { OpInput, PendingOp, ScenarioHistory } from "./scenario-history.ts";

/**
 * Appends a run's history, one JSON line per entry, each in a single write(2) to a file
 * opened with O_APPEND and nothing buffered in the process: a `kill -9` loses at most the
 * line being written. Writing synchronously is also the backpressure: a caller cannot pile
 * up lines faster than the disk takes them.
 */
export class HistoryWriter implements ScenarioHistory {
  readonly path: string;
  #fd: number | undefined;
  #index: number;
  /** performance.now() at the start: monotonic, and cheaper per entry than hrtime.bigint(). */
  readonly #origin: number;
  readonly #custom: Checker[] = [];

  private constructor(path: string, fd: number, index: number, origin: number) {
    this.path = path;
    this.#fd = fd;
    this.#index = index;
    this.#origin = origin;
  }

  /** Creates the file with its header line; refuses an existing one (two runs never mix). */
  static create(path: string, now: Date = new Date()): HistoryWriter {
    const fd = openSync(path, "wx", 0o600);
    const writer = new HistoryWriter(path, fd, 0, performance.now());
    const header: HeaderEntry = { kind: "header", index: 0, time: 0, startedAt: now.toISOString(), clock: "monotonic-ns", version: 1 };
    writer.#write(header);
    return writer;
  }

  /** Nanoseconds since the history started, on the monotonic clock every entry uses. */
  now(): number {
    return Math.round((performance.now() - this.#origin) * 1e6);
  }

  /** An event: a phase, a daemon starting or exiting, a fault, an alert. */
  recordEvent(type: string, data?: unknown): void {
    const entry: EventEntry = { kind: "event", index: this.#next(), time: this.now(), type, ...(data === undefined ? {} : { data }) };
    this.#write(entry);
  }

  /** Records the invocation of an operation and returns how to complete it. */
  invoke(op: OpInput): PendingOp {
    this.#op("invoke", op);
    return new Pending(op, (type, completed, error) => this.#op(type, completed, error));
  }

  /** The Jepsen-style calls, for a scenario that keeps its own bookkeeping of pending operations. */
  ok(op: OpInput): void {
    this.#op("ok", op);
  }

  fail(op: OpInput & { error?: unknown }): void {
    this.#op("fail", op, op.error);
  }

  info(op: OpInput & { error?: unknown }): void {
    this.#op("info", op, op.error);
  }

  /** Names the checkers to run over this history's operations at the end of the run, and takes the scenario's own. */
  check(...checkers: (CheckerName | Checker)[]): void {
    const unknown = checkers.find((checker) => !isCheckerName(checker) && !isChecker(checker));
    if (unknown !== undefined) throw new Error(`history.check: unknown checker ${JSON.stringify(unknown)}; choose from ${CHECKERS.join(", ")} or pass a Checker ({ name, check(input) })`);
    const custom = checkers.filter(isChecker);
    this.#custom.push(...custom);
    const named = checkers.filter(isCheckerName);
    // The scenario's own checkers are named in the history so a reader knows they ran; only the named ones can run again later.
    this.recordEvent(CHECKERS_EVENT, { checkers: named, ...(custom.length ? { custom: custom.map((c) => c.name) } : {}) });
  }

  /** The checkers the scenario passed itself, in the order given. */
  get customCheckers(): readonly Checker[] {
    return this.#custom;
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #op(type: OpType, op: OpInput, error?: unknown): void {
    if (typeof op.f !== "string" || op.f === "") throw new Error(`history.${type}: f must be a non-empty string such as "read" or "write", got ${JSON.stringify(op.f)}`);
    if (typeof op.process !== "number" && typeof op.process !== "string") throw new Error(`history.${type}: process must be a number or a string, got ${JSON.stringify(op.process)}`);
    if (this.#fd === undefined) return;
    // Built field by field rather than as an object for JSON.stringify: this is the hot path
    // of a scenario recording operations, and the line is the same OpEntry either way.
    let line = `{"kind":"op","index":${this.#next()},"time":${this.now()},"type":"${type}","process":${JSON.stringify(op.process)},"f":${JSON.stringify(op.f)}`;
    if (op.value !== undefined) line += `,"value":${JSON.stringify(op.value)}`;
    if (op.key !== undefined) line += `,"key":${JSON.stringify(op.key)}`;
    if (error !== undefined) line += `,"error":${JSON.stringify(error instanceof Error ? error.message : String(error))}`;
    writeSync(this.#fd, `${line}}\n`);
  }

  #next(): number {
    this.#index += 1;
    return this.#index;
  }

  #write(entry: object): void {
    // After close (the run is over) late events from stopping daemons are dropped, not errors.
    if (this.#fd === undefined) return;
    writeSync(this.#fd, `${JSON.stringify(entry)}\n`);
  }
}

class Pending implements PendingOp {
  #done = false;

  constructor(
    private readonly op: OpInput,
    private readonly record: (type: Exclude<OpType, "invoke">, op: OpInput, error?: unknown) => void,
  ) {}

  ok(value?: unknown): void {
    this.#complete("ok", value === undefined ? this.op : { ...this.op, value });
  }

  fail(error?: unknown): void {
    this.#complete("fail", this.op, error);
  }

  info(error?: unknown): void {
    this.#complete("info", this.op, error);
  }

  #complete(type: Exclude<OpType, "invoke">, op: OpInput, error?: unknown): void {
    if (this.#done) throw new Error(`history: operation ${op.f} of process ${op.process} was already completed`);
    this.#done = true;
    this.record(type, op, error);
  }
}
