import type { OpEntry } from "../history/entry.ts";

/**
 * An operation as checkers see it: its invocation paired with its completion. `status`
 * "info" (the outcome is unknown) or "pending" (the history ended first) means it may or may
 * not have taken effect, so it is concurrent with everything after its invocation.
 */
export interface CompletedOp {
  process: number | string;
  f: string;
  key: string | undefined;
  /** The invocation's value (what was asked: the value to write, the delta to add). */
  input: unknown;
  /** The completion's value (what was seen: the value read). */
  output: unknown;
  status: "ok" | "fail" | "info" | "pending";
  invokeTime: number;
  /** Infinity when the outcome is unknown. */
  returnTime: number;
}

/** Pairs each invoke with the next completion of the same process, as Jepsen's history does. */
export function pairOperations(ops: readonly OpEntry[]): CompletedOp[] {
  const open = new Map<number | string, CompletedOp>();
  const out: CompletedOp[] = [];
  for (const op of ops) {
    if (op.type === "invoke") {
      const pending: CompletedOp = { process: op.process, f: op.f, key: op.key, input: op.value, output: undefined, status: "pending", invokeTime: op.time, returnTime: Infinity };
      const earlier = open.get(op.process);
      // A process that invokes again without completing was lost track of: the earlier one stays unknown.
      if (earlier) earlier.status = "info";
      open.set(op.process, pending);
      out.push(pending);
      continue;
    }
    const pending = open.get(op.process);
    if (!pending) continue;
    open.delete(op.process);
    pending.status = op.type;
    pending.output = op.value;
    if (op.type !== "info") pending.returnTime = op.time;
  }
  return out;
}
