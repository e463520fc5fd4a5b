import type { Checker } from "./checker.ts";
import { checkCounter } from "./counter.ts";
import type { CheckerName } from "./names.ts";
import { checkRegister } from "./register.ts";
import { checkSet } from "./set.ts";

/** The named checkers; a name in CHECKERS without its entry here does not compile. */
export const NAMED_CHECKERS: Record<CheckerName, Checker> = {
  counter: { name: "counter", check: ({ ops }) => checkCounter(ops) },
  set: { name: "set", check: ({ ops }) => checkSet(ops) },
  register: { name: "register", check: ({ ops }, { timeLimitMs }) => checkRegister(ops, timeLimitMs === undefined ? {} : { timeLimitMs }) },
};
