import { randomBytes } from "node:crypto";
import { expiresAtFromLabels } from "../../core/namespace.ts";
import { FAULT_ACTIVE_METRIC, type FaultEvent, type FaultKind, type FaultObserver, type HealCause } from "./events.ts";
import { healAgents } from "./heal.ts";
import { completeGrudge, isolationGrudge, type Grudge } from "./grudge.ts";
import { FaultRefusedError, parseProbe, type Capabilities, type Capability } from "./probe.ts";
import { checkNumber, list, type FaultKindModule, type FaultOptions, type PlanContext } from "./kind.ts";
import { bandwidth, type BandwidthSpec } from "./kinds/bandwidth.ts";
import { clock, CLOCK_ENV } from "./kinds/clock.ts";
import { cut, type CutSpec } from "./kinds/cut.ts";
import { delay, type DelaySpec } from "./kinds/delay.ts";
import { loss, type LossSpec } from "./kinds/loss.ts";
import { partition } from "./kinds/partition.ts";
import { pause, type PauseSpec } from "./kinds/pause.ts";
import type { Agents, FaultAgent } from "./target.ts";
import { runSchedule, type ScheduleRun, type ScheduleStep } from "./schedule.ts";
import { FaultSession } from "./session.ts";

export type { FaultOptions } from "./kind.ts";
export type { BandwidthSpec } from "./kinds/bandwidth.ts";
export type { CutSpec } from "./kinds/cut.ts";
export type { DelaySpec } from "./kinds/delay.ts";
export type { LossSpec } from "./kinds/loss.ts";
export { CLOCK_ENV } from "./kinds/clock.ts";

/** A fault in force: heal it alone, or let `nemesis.heal()` / its deadline do it. */
export interface Fault {
  readonly id: string;
  readonly kind: FaultKind;
  readonly targets: readonly string[];
  readonly deadline: Date;
  readonly active: boolean;
  heal(): Promise<void>;
}

export interface NemesisOptions {
  /** Sets a gauge; the run's pushMetric, so dashboards can shade fault windows. */
  pushMetric?: (name: string, value: number, options: { labels: Record<string, string>; help: string }) => void;
  observer?: FaultObserver;
}

/** Without a TTL label (an inventory from elsewhere), the agents still heal within this. */
const FALLBACK_DEADLINE_MS = 2 * 3600_000;

interface ActiveFault extends Fault {
  end(by: HealCause): Promise<void>;
}

/**
 * Jepsen's nemesis for a fieldtest fleet: partitions (grudges), one-way cuts, isolation, delay,
 * loss, bandwidth and clock skew, each applied by `fieldtest-fault` inside the agents with a
 * deadline the agents enforce, each refused with the reason where an agent cannot honour it.
 */
export class Nemesis {
  private readonly probes = new Map<string, Promise<Capabilities>>();
  /** Each agent's resident fault session, opened at its first fault. */
  private readonly sessions = new Map<string, Promise<FaultSession>>();
  private readonly active = new Map<string, ActiveFault>();
  private readonly observers = new Set<FaultObserver>();

  constructor(private readonly agents: readonly FaultAgent[], private readonly options: NemesisOptions = {}) {
    if (options.observer) this.observers.add(options.observer);
  }

  /** Adds an observer of fault events; returns the function that removes it. */
  onEvent(observer: FaultObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Libfaketime's environment for daemons that `clock` should be able to skew (dynamic binaries only). */
  clockEnv(): Record<string, string> {
    return { ...CLOCK_ENV };
  }

  /** Faults in force that this nemesis applied. */
  faults(): Fault[] {
    return [...this.active.values()];
  }

  /** Grudge: each component's agents drop every packet from and to the other components. */
  async partition(components: ReadonlyArray<Agents>, options: FaultOptions = {}): Promise<Fault> {
    const lists = components.map(list);
    const byName = new Map(lists.flat().map((a) => [a.name, a]));
    return this.applyGrudge(completeGrudge(lists.map((c) => c.map((a) => a.name))), byName, options);
  }

  /** Cuts one agent off from every other agent of the fleet (fieldtest's own SSH still reaches it). */
  async isolate(agent: FaultAgent, options: FaultOptions = {}): Promise<Fault> {
    const byName = new Map(this.agents.map((a) => [a.name, a]));
    byName.set(agent.name, agent);
    return this.applyGrudge(isolationGrudge(agent.name, [...byName.keys()]), byName, options);
  }

  /** A grudge given directly: `grudge.get(a)` holds the agents whose packets `a` drops. */
  async applyGrudge(grudge: Grudge, agentsByName: ReadonlyMap<string, FaultAgent>, options: FaultOptions = {}): Promise<Fault> {
    return this.inflict(partition, { grudge, agentsByName }, options);
  }

  /** One-way: new connections from `from` to `to` fail; `to` still connects to `from`. */
  async cut(spec: CutSpec): Promise<Fault> {
    return this.inflict(cut, spec, spec);
  }

  /** Delays every packet from `from` to `to` (netem on the senders, else the NFQUEUE delayer on the receivers). */
  async delay(spec: DelaySpec): Promise<Fault> {
    return this.inflict(delay, spec, spec);
  }

  /** Drops about `percent` % of the packets arriving at `to` (iptables' statistic match). */
  async loss(spec: LossSpec): Promise<Fault> {
    return this.inflict(loss, spec, spec);
  }

  /** Caps what `from` sends (to `to`, or to everyone but fieldtest's SSH) at `mbit` (htb). */
  async bandwidth(spec: BandwidthSpec): Promise<Fault> {
    return this.inflict(bandwidth, spec, spec);
  }

  /** Skews the clock libfaketime shows the agent's processes started with `clockEnv()`; the host's clock is never changed. */
  async clock(agent: FaultAgent, spec: { offsetMs: number } & FaultOptions): Promise<Fault> {
    return this.inflict(clock, { ...spec, agent }, spec);
  }

  /** Pauses a daemon (SIGSTOP) until heal or the deadline, when the agent itself sends SIGCONT. */
  async pause(daemon: PauseSpec["daemon"], options: FaultOptions = {}): Promise<Fault> {
    return this.inflict(pause, { daemon }, options);
  }

  /**
   * Heals everything, everywhere: the faults this nemesis applied (each one's stop event), then
   * whatever `fieldtest-fault` finds on any agent of the fleet (another runner's, a crashed one's).
   */
  async heal(): Promise<void> {
    const results = await Promise.allSettled([...this.active.values()].map((fault) => fault.end("heal-all")));
    await healAgents(this.agents);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /**
   * Runs fault steps one after another (start, hold `durationMs`, heal, wait `gapMs`): an array,
   * or a generator yielding steps, Jepsen's style. `stop()` heals the current step and ends it.
   */
  schedule(steps: Iterable<ScheduleStep<Nemesis>>): ScheduleRun {
    return runSchedule<Nemesis>(this, steps);
  }

  /** Forgets what the agents reported, e.g. after installing a tool on them. */
  reprobe(): void {
    this.probes.clear();
  }

  private capabilities(agent: FaultAgent): Promise<Capabilities> {
    let probe = this.probes.get(agent.name);
    if (!probe) {
      probe = agent.exec(["sh", "-c", "command -v fieldtest-fault >/dev/null || exit 127; exec fieldtest-fault probe"], { allowFailure: true }).then((result) => {
        if (result.code === 127) {
          const reason = "no fieldtest-fault program on the agent (fieldtest's agent images have it; install dockerfiles/agent/fieldtest-fault)";
          return { missing: { iptables: reason, netem: reason, htb: reason, delayer: reason, faketime: reason }, device: undefined };
        }
        const capabilities = parseProbe(result.stdout);
        if (agent.labels.network === "host") {
          // Even with the capability, a rule there would change the host's own network, fieldtest's SSH included.
          const reason = "the agent shares the host's network (--network host); provision it with --network own";
          capabilities.missing = { ...capabilities.missing, iptables: reason, netem: reason, htb: reason };
        }
        return capabilities;
      });
      probe.catch(() => this.probes.delete(agent.name));
      this.probes.set(agent.name, probe);
    }
    return probe;
  }

  private async device(agent: FaultAgent): Promise<string> {
    const { device } = await this.capabilities(agent);
    if (!device) throw new FaultRefusedError("tc", [{ agent: agent.name, reason: "no default route, so no interface to shape" }]);
    return device;
  }

  /** The agents (with reasons) that lack one of `needs`. */
  private async missing(agents: readonly FaultAgent[], needs: readonly Capability[]): Promise<Array<{ agent: string; reason: string }>> {
    const found = await Promise.all(
      agents.map(async (agent) => {
        const { missing } = await this.capabilities(agent);
        const lacking = needs.filter((need) => missing[need] !== undefined);
        return lacking.length ? { agent: agent.name, reason: lacking.map((need) => `${need}: ${missing[need]}`).join(", ") } : undefined;
      }),
    );
    return found.filter((entry): entry is { agent: string; reason: string } => entry !== undefined);
  }

  private async require(kind: FaultKind, needs: Partial<Record<Capability, readonly FaultAgent[]>>): Promise<void> {
    const reasons = (await Promise.all(Object.entries(needs).map(([need, agents]) => this.missing(agents ?? [], [need as Capability])))).flat();
    if (reasons.length > 0) throw new FaultRefusedError(kind, reasons);
  }

  private deadlineFor(agents: readonly FaultAgent[], options: FaultOptions): number {
    if (options.healAfterMs !== undefined) checkNumber("fault", "healAfterMs", options.healAfterMs, 1, 30 * 86400_000);
    const expiries = agents.map((a) => expiresAtFromLabels(a.labels)?.getTime()).filter((t): t is number => t !== undefined);
    const limit = expiries.length ? Math.min(...expiries) : Date.now() + FALLBACK_DEADLINE_MS;
    return Math.min(limit, options.healAfterMs === undefined ? Infinity : Date.now() + options.healAfterMs);
  }

  /** Plans a fault with its kind's module, then applies the plan everywhere or nowhere. */
  private async inflict<Spec>(module: FaultKindModule<Spec>, spec: Spec, options: FaultOptions): Promise<Fault> {
    const kind = module.kind;
    const context: PlanContext = {
      fleet: this.agents,
      device: (agent) => this.device(agent),
      missing: (agents, needs) => this.missing(agents, needs),
      require: (needs) => this.require(kind, needs),
    };
    const { targets, params, mechanism, applications, needs } = await module.plan(spec, context);
    await this.require(kind, needs);
    const useful = applications.filter((a) => a.rules === undefined || a.rules.trim() !== "");
    if (useful.length === 0) throw new Error(`${kind}: nothing to do: the agents given leave no pair to fault (an agent is never faulted against itself)`);
    const id = randomBytes(4).toString("hex");
    const deadline = this.deadlineFor(useful.map((a) => a.agent), options);
    const applied: FaultAgent[] = [];
    const results = await Promise.allSettled(
      useful.map(async ({ agent, args, rules }) => {
        const request = applyRequest(kind, id, deadline, args, rules);
        await (await this.session(agent)).request(request);
        applied.push(agent);
      }),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    const healOn = (agents: readonly FaultAgent[]) => Promise.allSettled(agents.map(async (agent) => (await this.session(agent)).request(`heal ${id}`)));
    if (failure) {
      await healOn(applied);
      throw new Error(`${kind} could not be applied, and was healed where it had been: ${(failure.reason as Error).message}`);
    }
    let ended: Promise<void> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const fault: ActiveFault = {
      id,
      kind,
      targets: [...targets],
      deadline: new Date(deadline),
      get active() {
        return ended === undefined;
      },
      heal: () => fault.end("heal"),
      end: (by) => {
        ended ??= (async () => {
          clearTimeout(timer);
          const results = await healOn(useful.map((a) => a.agent));
          this.active.delete(id);
          this.emit({ type: "fault-stop", id, kind, targets: [...targets], at: new Date().toISOString(), by });
          this.setActive(kind, targets, 0);
          const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as Error).message);
          if (failed.length) throw new Error(`healing ${kind} ${id} failed on ${failed.join("; ")} (the agents still heal it at ${new Date(deadline).toISOString()})`);
        })();
        return ended;
      },
    };
    this.active.set(id, fault);
    // The agents heal by themselves at the deadline; this timer only records it, so it does not hold the process.
    timer = setTimeout(() => void fault.end("deadline").catch(() => {}), Math.max(0, deadline - Date.now()));
    timer.unref();
    this.setActive(kind, targets, 1);
    this.emit({ type: "fault-start", id, kind, targets: [...targets], params, at: new Date().toISOString(), deadline: new Date(deadline).toISOString(), mechanism });
    return fault;
  }

  /** The agent's session, opened at first use and again after one ended (a dropped connection). */
  private session(agent: FaultAgent): Promise<FaultSession> {
    let session = this.sessions.get(agent.name);
    if (!session) {
      // Ended or never opened: the next fault opens a new one (only this one is forgotten).
      const forget = () => {
        if (this.sessions.get(agent.name) === opening) this.sessions.delete(agent.name);
      };
      const opening = FaultSession.open(agent, forget);
      opening.catch(forget);
      this.sessions.set(agent.name, opening);
      session = opening;
    }
    return session;
  }

  private emit(event: FaultEvent): void {
    for (const observer of this.observers) observer.faultEvent(event);
  }

  private setActive(kind: FaultKind, targets: readonly string[], value: 0 | 1): void {
    if (!this.options.pushMetric) return;
    for (const target of targets) {
      this.options.pushMetric(FAULT_ACTIVE_METRIC, value, { labels: { kind, target }, help: "1 while a fault of this kind affects this agent (cloud.faults)" });
    }
  }
}

/**
 * `apply ID UNTIL_MS KIND ARG…`, the rules a line, and the empty line that ends them. The agent
 * splits the first line at white space, so an argument must have none.
 */
function applyRequest(kind: FaultKind, id: string, deadline: number, args: readonly string[], rules: string | undefined): string {
  for (const arg of args) {
    if (!/^\S+$/.test(arg)) throw new Error(`${kind}: ${JSON.stringify(arg)} cannot be sent to the agent: a fault's arguments (addresses, devices, pid file paths) must have no white space`);
  }
  const ruleLines = (rules ?? "").split("\n").filter((line) => line.trim() !== "");
  return [["apply", id, String(deadline), ...args].join(" "), ...ruleLines, ""].join("\n");
}
