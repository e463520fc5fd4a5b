import type { CompletedOp } from "./operations.ts";
import { mergeValidity, type CheckerResult, type Validity } from "./result.ts";

/**
 * Linearizability of a key-value store seen as one read/write/cas register per key (ops
 * carry `key`; keys are independent, so each is searched on its own, which is what makes
 * large histories tractable). Values: `write` v, `read` → v (the completion's value), `cas`
 * [from, to]. A register starts as `null` (absent).
 *
 * The search is Wing & Gong's, with Lowe's memoization as in porcupine: walk the history's
 * calls and returns in time order, try to linearize each call whose turn may have come,
 * and backtrack when a return arrives for an operation not yet linearized; a set of
 * (linearized operations, register value) already explored prunes the search. It is
 * exponential in the worst case, so it watches a deadline and answers "unknown" rather than
 * a guess when the deadline passes.
 */
export interface RegisterCheckOptions {
  /** Wall time for the whole history (all keys), default 10 s. */
  timeLimitMs?: number;
  /** Read by the checker instead of Date.now, so tests and benchmarks control time. */
  clock?: () => number;
}

interface KeyResult {
  key: string;
  valid: Validity;
  ops: number;
}

export function checkRegister(all: readonly CompletedOp[], options: RegisterCheckOptions = {}): CheckerResult {
  const clock = options.clock ?? Date.now;
  const deadline = clock() + (options.timeLimitMs ?? 10_000);
  const byKey = new Map<string, CompletedOp[]>();
  for (const op of all) {
    if (op.f !== "read" && op.f !== "write" && op.f !== "cas") continue;
    const key = op.key ?? "";
    let list = byKey.get(key);
    if (!list) byKey.set(key, (list = []));
    list.push(op);
  }
  const results: KeyResult[] = [];
  for (const [key, ops] of byKey) {
    const valid = clock() > deadline ? "unknown" : linearizable(ops, deadline, clock);
    results.push({ key, valid, ops: ops.length });
  }
  const valid = byKey.size === 0 ? "unknown" : mergeValidity(results.map((r) => r.valid));
  const invalid = results.filter((r) => r.valid === false);
  const unknown = results.filter((r) => r.valid === "unknown");
  const summary =
    byKey.size === 0
      ? "no read, write or cas operation to check"
      : valid === true
        ? `${results.length} key(s) linearizable`
        : valid === false
          ? `${invalid.length} key(s) not linearizable: ${invalid.slice(0, 5).map((r) => JSON.stringify(r.key)).join(", ")}`
          : `time limit of ${options.timeLimitMs ?? 10_000} ms reached: ${unknown.length} of ${results.length} key(s) not decided`;
  return {
    checker: "register",
    valid,
    summary,
    keys: results.length,
    invalidKeys: invalid.map((r) => r.key).slice(0, 50),
    unknownKeys: unknown.map((r) => r.key).slice(0, 50),
  };
}

/** A call or a return in the doubly linked list the search lifts operations out of. */
interface Node {
  op: number;
  call: boolean;
  /** The call's return node (for a call). */
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

interface Search {
  ops: SearchOp[];
}

interface SearchOp {
  f: "read" | "write" | "cas";
  input: unknown;
  output: unknown;
  /** The outcome is unknown: it may never have taken effect. */
  uncertain: boolean;
}

/** Register values compare as JSON, so objects and arrays work as values too. */
type State = string;
const INITIAL: State = "null";

function step(state: State, op: SearchOp): State | undefined {
  if (op.f === "write") return JSON.stringify(op.input ?? null);
  if (op.f === "read") return JSON.stringify(op.output ?? null) === state ? state : undefined;
  const [from, to] = Array.isArray(op.input) ? op.input : [undefined, undefined];
  return JSON.stringify(from ?? null) === state ? JSON.stringify(to ?? null) : undefined;
}

function prepare(ops: readonly CompletedOp[]): Search & { head: Node } {
  // A failed op did not happen; a read of unknown outcome constrains nothing.
  const kept = ops.filter((op) => op.status !== "fail" && !(op.f === "read" && op.status !== "ok"));
  const search: SearchOp[] = kept.map((op) => ({ f: op.f as SearchOp["f"], input: op.input, output: op.output, uncertain: op.status !== "ok" }));
  const events: { time: number; node: Node }[] = [];
  kept.forEach((op, i) => {
    const ret: Node = { op: i, call: false, match: undefined, prev: undefined, next: undefined };
    const call: Node = { op: i, call: true, match: ret, prev: undefined, next: undefined };
    events.push({ time: op.invokeTime, node: call }, { time: op.returnTime, node: ret });
  });
  // Equal times: calls first, so operations that touch are taken as concurrent (never a false "invalid").
  events.sort((a, b) => a.time - b.time || Number(b.node.call) - Number(a.node.call));
  const head: Node = { op: -1, call: false, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const { node } of events) {
    last.next = node;
    node.prev = last;
    last = node;
  }
  return { ops: search, head };
}

function lift(call: Node): void {
  (call.prev as Node).next = call.next;
  (call.next as Node).prev = call.prev;
  const ret = call.match as Node;
  (ret.prev as Node).next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match as Node;
  (ret.prev as Node).next = ret;
  if (ret.next) ret.next.prev = ret;
  (call.prev as Node).next = call;
  (call.next as Node).prev = call;
}

const DEADLINE_CHECK_EVERY = 1024;

function linearizable(ops: readonly CompletedOp[], deadline: number, clock: () => number): Validity {
  const { ops: search, head } = prepare(ops);
  const linearized = new Uint32Array(Math.ceil(search.length / 32) || 1);
  const explored = new Set<string>();
  const calls: { node: Node; state: State }[] = [];
  let state = INITIAL;
  let node = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps % DEADLINE_CHECK_EVERY === 0 && clock() > deadline) return "unknown";
    if (!node) return false;
    const op = search[node.op] as SearchOp;
    if (node.call) {
      const next = step(state, op);
      if (next !== undefined) {
        linearized[node.op >> 5]! |= 1 << (node.op & 31);
        const seen = `${linearized.join(",")}|${next}`;
        if (!explored.has(seen)) {
          explored.add(seen);
          calls.push({ node, state });
          state = next;
          lift(node);
          node = head.next;
          continue;
        }
        linearized[node.op >> 5]! &= ~(1 << (node.op & 31));
      }
      node = node.next;
      continue;
    }
    // Only uncertain operations are left (their returns sort last): they may never have happened.
    if (op.uncertain) return true;
    const top = calls.pop();
    if (!top) return false;
    state = top.state;
    linearized[top.node.op >> 5]! &= ~(1 << (top.node.op & 31));
    unlift(top.node);
    node = top.node.next;
  }
  return true;
}
