/** What a schedule needs of a fault: a way to heal it. */
export interface Healable {
  heal(): Promise<void>;
}

/**
 * One step of a fault schedule, in Jepsen's start/stop style: start a fault, keep it for
 * `durationMs`, heal it, wait `gapMs`. `start` receives the heal deadline to give the fault,
 * so the agents heal it on time even if the runner dies mid-schedule.
 */
export interface ScheduleStep<N> {
  start(nemesis: N, options: { healAfterMs: number }): Promise<Healable | readonly Healable[]>;
  durationMs: number;
  /** Quiet time after the heal, before the next step (default 0). */
  gapMs?: number;
}

export interface ScheduleRun {
  /** Settles when the steps are exhausted, or after `stop()`; rejects with a step's failure. */
  readonly done: Promise<void>;
  /** Heals the current step's faults and ends the schedule. */
  stop(): Promise<void>;
}

// The agents' own deadline trails the runner's heal a little, so the runner's heal records the stop.
const AGENT_DEADLINE_MARGIN_MS = 2000;

/**
 * Runs steps one after another: an array, or any iterable, such as a generator that yields
 * random faults forever (`stop()` ends it).
 */
export function runSchedule<N>(nemesis: N, steps: Iterable<ScheduleStep<N>>): ScheduleRun {
  let stopped = false;
  let wake: (() => void) | undefined;
  let current: readonly Healable[] = [];
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const done = (async () => {
    for (const step of steps) {
      if (stopped) break;
      const started = await step.start(nemesis, { healAfterMs: step.durationMs + AGENT_DEADLINE_MARGIN_MS });
      current = Array.isArray(started) ? (started as readonly Healable[]) : [started as Healable];
      if (!stopped) await sleep(step.durationMs);
      await Promise.all(current.map((fault) => fault.heal()));
      current = [];
      if (!stopped && step.gapMs) await sleep(step.gapMs);
    }
  })();
  return {
    done,
    async stop() {
      stopped = true;
      wake?.();
      await done.catch(() => {});
      await Promise.all(current.map((fault) => fault.heal()));
    },
  };
}
