import { setMaxListeners } from "node:events";
import { cutBy } from "../core/abort.ts";
import type { Inventory } from "../core/inventory.ts";
import { describeFaultEvent, type FaultObserver } from "./faults/events.ts";
import { Nemesis } from "./faults/nemesis.ts";
import type { AlertRule, CloudObserver, PrometheusSourceSpec, PushOptions } from "./observer.ts";
import { Agent } from "./agent.ts";
import type { ScenarioHistory } from "./history/scenario-history.ts";
import { broadcast, type BroadcastResult } from "./broadcast.ts";
import { CopyCoalescer } from "./copy-coalescer.ts";
import type { DaemonEvent, LogSink, RestartEventSink } from "./daemon.ts";
import { HashCache } from "./hash-cache.ts";

export type { CloudObserver } from "./observer.ts";

export interface CloudOptions {
  /** The namespace's client private key, which every agent accepts. */
  privateKey: string;
  /** Where daemon output lines and scenario log messages go. */
  logSink: LogSink;
  /** Receives pushMetric and the other observability calls; without it they throw. */
  observer?: CloudObserver;
  /** The run's history (`cloud.history`); without it recording throws. */
  history?: ScenarioHistory;
  /** Daemon starts, exits and restarts on any agent. */
  onDaemonEvent?: (event: DaemonEvent) => void;
  /** Receives every fault start and stop of `cloud.faults` (the run's history). */
  faultObserver?: FaultObserver;
  /** Receives every daemon restart a restart policy makes, on any agent (e.g. for the run's history). */
  restartEvents?: RestartEventSink;
  /** `cloud.signal`: aborted when the run is being stopped. */
  signal?: AbortSignal;
  /**
   * Daemons are started so that they outlive the runner's SSH connections (output to files on the
   * agent), and `close` leaves them running: `run --keep=running`.
   */
  daemonsOutliveRunner?: boolean;
}

/** A path on an agent that the run's failure dump fetches (`cloud.collectOnFailure`). */
export interface FailurePath {
  agent: string;
  path: string;
}

/**
 * SSH handshakes in flight at once while connecting. Each has its own timeout (SshConnection's
 * ready timeout): a thousand started together share the runner's one thread and the CPU, and
 * some outlast it though nothing is wrong; this many at a time keep the runner busy all the
 * same, even where each handshake waits a few round trips on a distant agent.
 */
export const CONNECT_CONCURRENCY = 128;

/** Runs `work` on every item, at most `limit` at a time; rejects at the first failure, starting no more. */
async function eachAtMost<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The fleet handed to a scenario's `run`: its agents, by name or all together. */
export class Cloud {
  readonly namespace: string;
  readonly agents: readonly Agent[];
  /** One cache and one hashing pool for all agents: a file copied to fifty is hashed once. */
  private readonly hashes = new HashCache();
  private readonly copies: CopyCoalescer;
  readonly #failurePaths: FailurePath[] = [];
  private nemesis: Nemesis | undefined;
  /**
   * Aborted when the run is being stopped (`fieldtest stop`, Ctrl+C, a failed check, a deadline):
   * a scenario passes it to its own waits and loops and returns soon after; it never aborts otherwise.
   */
  readonly signal: AbortSignal;
  /** `signal` while the scenario has the fleet; undefined once the teardown has it (see beginTeardown). */
  #scenarioSignal: AbortSignal | undefined;

  private constructor(readonly inventory: Inventory, private readonly options: CloudOptions) {
    this.namespace = inventory.namespace;
    this.signal = options.signal ?? new AbortController().signal;
    // Every exec, wait and copy in flight listens to the run's signal: a fan-out to a thousand
    // agents is a thousand listeners, not a leak, and Node's warning at eleven would say it is.
    setMaxListeners(0, this.signal);
    this.#scenarioSignal = options.signal;
    this.copies = new CopyCoalescer(this.hashes, (message) => this.log(message));
    this.agents = inventory.agents.map(
      (spec) =>
        new Agent(spec, {
          privateKey: options.privateKey,
          hashes: this.hashes,
          logSink: options.logSink,
          copies: this.copies,
          runSignal: () => this.#scenarioSignal,
          ...(options.daemonsOutliveRunner ? { daemonsOutliveRunner: true } : {}),
          ...(options.onDaemonEvent ? { onDaemonEvent: options.onDaemonEvent } : {}),
          ...(options.restartEvents ? { restartEvents: options.restartEvents } : {}),
        }),
    );
  }

  /**
   * Connects to every agent, CONNECT_CONCURRENCY handshakes at a time; the first failure closes
   * the rest and throws.
   */
  static async connect(inventory: Inventory, options: CloudOptions): Promise<Cloud> {
    const cloud = new Cloud(inventory, options);
    try {
      await eachAtMost(cloud.agents, CONNECT_CONCURRENCY, (agent) => agent.connect());
    } catch (error) {
      await cloud.close();
      throw error;
    }
    return cloud;
  }

  agent(name: string): Agent {
    const agent = this.agents.find((a) => a.name === name);
    if (!agent) {
      throw new Error(`no agent named "${name}" in namespace ${this.namespace}; agents are: ${this.agents.map((a) => a.name).join(", ") || "(none)"}`);
    }
    return agent;
  }

  /**
   * Copies a file to many agents at once, the runner's uplink carrying it about once: agents
   * relay it to each other (see broadcast.ts). Agents that already have it are sent nothing.
   * Throws a BroadcastError, whose `result` names the agents that have it, if any is left without.
   */
  copy(agents: readonly Agent[], local: string, remote: string): Promise<BroadcastResult> {
    const copying = broadcast(
      agents.map((agent) => agent.relayTarget()),
      local,
      remote,
      { hashes: this.hashes, log: (message) => this.log(message) },
    );
    return cutBy(copying, this.#scenarioSignal, `copy of ${local} to ${remote} on ${agents.length} agent(s)`);
  }

  /** The fleet's group names, in the order of their first agent. */
  get groups(): string[] {
    return [...new Set(this.agents.map((agent) => agent.group))];
  }

  /** The agents of one group (`unit` → unit-001, unit-002, …), in name order. */
  group(name: string): Agent[] {
    const members = this.agents.filter((agent) => agent.group === name);
    if (members.length === 0) {
      throw new Error(`no group named "${name}" in namespace ${this.namespace}; groups are: ${this.groups.join(", ") || "(none)"}`);
    }
    return members;
  }

  /** A line in the run's log, attributed to the scenario. */
  log(message: string): void {
    this.options.logSink({ agent: "scenario", daemon: "log", stream: "stdout", line: message });
  }

  /** Sets a gauge (or adds to a counter) shown on the run's website and scraped by Prometheus. */
  pushMetric(name: string, value: number, options?: PushOptions): void {
    this.observer("pushMetric").pushMetric(name, value, options);
  }

  /** Has the run's Prometheus scrape an exporter on an agent: `{ name, agent, port, path? }`. */
  addPrometheusSource(spec: PrometheusSourceSpec): Promise<void> {
    return this.observer("addPrometheusSource").addPrometheusSource(spec);
  }

  /** A link on the run's website, e.g. a dashboard the scenario started. */
  addService(name: string, url: string): void {
    this.observer("addService").addService(name, url);
  }

  /** An alert rule evaluated by the run's Prometheus and shown on the website when firing. */
  addAlert(rule: AlertRule & { dump?: boolean }): Promise<void> {
    return this.observer("addAlert").addAlert(rule);
  }

  /** Operations and events recorded for checking: `cloud.history.invoke({ process, f, value, key })`. */
  get history(): ScenarioHistory {
    if (!this.options.history) throw new Error("cloud.history: this Cloud was connected without a history (the fieldtest CLI always gives one)");
    return this.options.history;
  }

  /** Has a failed or stopped run fetch this file or directory of the agent into its dump. */
  collectOnFailure(agent: Agent | string, path: string): void {
    const name = typeof agent === "string" ? this.agent(agent).name : agent.name;
    if (typeof path !== "string" || path === "") throw new Error(`collectOnFailure(${name}): path must be a non-empty string`);
    this.#failurePaths.push({ agent: name, path });
  }

  get failurePaths(): readonly FailurePath[] {
    return this.#failurePaths;
  }

  /** The fleet's nemesis: partitions, delay, loss, bandwidth, clock skew; healed at close. */
  get faults(): Nemesis {
    if (!this.nemesis) {
      const observer = this.options.observer;
      this.nemesis = new Nemesis(this.agents, {
        ...(observer ? { pushMetric: (name, value, options) => observer.pushMetric(name, value, options) } : {}),
        ...(this.options.faultObserver ? { observer: this.options.faultObserver } : {}),
        signal: () => this.#scenarioSignal,
      });
      // Every fault window is in the run's log too, in order with the daemons' lines.
      this.nemesis.onEvent({ faultEvent: (event) => this.log(describeFaultEvent(event)) });
    }
    return this.nemesis;
  }

  private observer(call: string): CloudObserver {
    if (!this.options.observer) throw new Error(`cloud.${call}: this Cloud was connected without an observer (the fieldtest CLI always gives one)`);
    return this.options.observer;
  }

  /**
   * The scenario's time with the fleet is over: from now on the run's signal cuts nothing, since
   * fieldtest's own teardown (heal, dumps, daemon stops) runs after the signal that stopped the run.
   */
  beginTeardown(): void {
    this.#scenarioSignal = undefined;
  }

  /** Heals every fault the scenario made; a run's stop heals before its dumps, so they see a whole network. */
  async healFaults(): Promise<void> {
    await this.nemesis?.heal().catch((error: Error) => this.log(`fieldtest: healing faults failed: ${error.message}`));
  }

  /** Heals the faults, stops the daemons this run started (unless they outlive it) and closes every connection. */
  async close(): Promise<void> {
    // Before the connections go: a fault must not outlive the run that made it.
    await this.healFaults();
    const keepDaemons = Boolean(this.options.daemonsOutliveRunner);
    await Promise.allSettled([...this.agents.map((agent) => agent.close({ keepDaemons })), this.hashes.close()]);
  }
}
