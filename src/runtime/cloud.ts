import type { Inventory } from "../core/inventory.ts";
import type { AlertRule } from "../observe/alerts.ts";
import type { PushOptions } from "../observe/metrics.ts";
import type { PrometheusSourceSpec } from "../observe/prometheus.ts";
import { Agent } from "./agent.ts";
import type { LogSink, RestartEventSink } from "./daemon.ts";
import { HashCache } from "./hash-cache.ts";

/** Where a scenario's metrics, scrape sources, service links and alerts go (the run's observation). */
export interface CloudObserver {
  pushMetric(name: string, value: number, options?: PushOptions): void;
  addPrometheusSource(spec: PrometheusSourceSpec): Promise<void>;
  addService(name: string, url: string): void;
  addAlert(rule: AlertRule): Promise<void>;
}

export interface CloudOptions {
  /** The namespace's client private key, which every agent accepts. */
  privateKey: string;
  /** Where daemon output lines and scenario log messages go. */
  logSink: LogSink;
  /** Receives pushMetric and the other observability calls; without it they throw. */
  observer?: CloudObserver;
  /** Receives every daemon restart a restart policy makes, on any agent (e.g. for the run's history). */
  restartEvents?: RestartEventSink;
}

/** The fleet handed to a scenario's `run`: its agents, by name or all together. */
export class Cloud {
  readonly namespace: string;
  readonly agents: readonly Agent[];
  /** One cache and one hashing pool for all agents: a file copied to fifty is hashed once. */
  private readonly hashes = new HashCache();

  private constructor(readonly inventory: Inventory, private readonly options: CloudOptions) {
    this.namespace = inventory.namespace;
    this.agents = inventory.agents.map(
      (spec) =>
        new Agent(spec, {
          privateKey: options.privateKey,
          hashes: this.hashes,
          logSink: options.logSink,
          ...(options.restartEvents ? { restartEvents: options.restartEvents } : {}),
        }),
    );
  }

  /** Connects to every agent in parallel; the first failure closes the rest and throws. */
  static async connect(inventory: Inventory, options: CloudOptions): Promise<Cloud> {
    const cloud = new Cloud(inventory, options);
    try {
      await Promise.all(cloud.agents.map((agent) => agent.connect()));
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
  addAlert(rule: AlertRule): Promise<void> {
    return this.observer("addAlert").addAlert(rule);
  }

  private observer(call: string): CloudObserver {
    if (!this.options.observer) throw new Error(`cloud.${call}: this Cloud was connected without an observer (the fieldtest CLI always gives one)`);
    return this.options.observer;
  }

  /** Stops the daemons this run started and closes every connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.agents.map((agent) => agent.close()), this.hashes.close()]);
  }
}
