/**
 * One line of a run's `history.jsonl`. Two kinds share the file and one clock:
 * operations in Jepsen's shape (invoke, then ok / fail / info from the same process), which
 * checkers read, and events (phases, daemons, faults, alerts) that say what else happened.
 * `time` is nanoseconds since the history's start on a monotonic clock, so the order of
 * two entries never depends on the wall clock being stepped; the header line gives the
 * wall time of that start.
 */
export type OpType = "invoke" | "ok" | "fail" | "info";

export interface OpEntry {
  kind: "op";
  index: number;
  time: number;
  type: OpType;
  /** Who performed it: a client, a thread; an invoke and its completion share the process. */
  process: number | string;
  /** The function: "read", "write", "cas", "add", … */
  f: string;
  value?: unknown;
  /** Splits independent objects (a key-value store's keys) for the register checker. */
  key?: string;
  error?: string;
}

export interface EventEntry {
  kind: "event";
  index: number;
  time: number;
  /** "phase", "daemon-start", "daemon-exit", "daemon-restart", "fault", "alert", … */
  type: string;
  data?: unknown;
}

export interface HeaderEntry {
  kind: "header";
  index: 0;
  time: 0;
  startedAt: string;
  clock: "monotonic-ns";
  version: 1;
}

export type HistoryEntry = HeaderEntry | OpEntry | EventEntry;

export const HISTORY_FILE = "history.jsonl";
