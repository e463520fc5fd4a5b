import type { Inventory } from "../core/inventory.ts";
import { describeFaultEvent, type FaultObserver } from "../faults/events.ts";
import { Nemesis } from "../faults/nemesis.ts";
import type { AlertRule } from "../observe/alerts.ts";
import type { PushOptions } from "../observe/metrics.ts";
import type { PrometheusSourceSpec } from "../observe/prometheus.ts";
import { Agent } from "./agent.ts";
import type { LogSink } from "./daemon.ts";
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
  /** Receives every fault start and stop of `cloud.faults` (the run's history). */
  faultObserver?: FaultObserver;
}

/** The fleet handed to a scenario's `run`: its agents, by name or all together. */
export class Cloud {
  readonly namespace: string;
  readonly agents: readonly Agent[];
  /** One cache and one hashing pool for all agents: a file copied to fifty is hashed once. */
  private readonly hashes = new HashCache();
  private nemesis: Nemesis | undefined;

  private constructor(readonly inventory: Inventory, private readonly options: CloudOptions) {
    this.namespace = inventory.namespace;
    this.agents = inventory.agents.map((spec) => new Agent(spec, { privateKey: options.privateKey, hashes: this.hashes, logSink: options.logSink }));
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

  /** The fleet's nemesis: partitions, delay, loss, bandwidth, clock skew; healed at close. */
  get faults(): Nemesis {
    if (!this.nemesis) {
      const observer = this.options.observer;
      this.nemesis = new Nemesis(this.agents, {
        ...(observer ? { pushMetric: (name, value, options) => observer.pushMetric(name, value, options) } : {}),
        ...(this.options.faultObserver ? { observer: this.options.faultObserver } : {}),
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

  /** Heals the faults, stops the daemons this run started and closes every connection. */
  async close(): Promise<void> {
    // Before the connections go: a fault must not outlive the run that made it.
    await this.nemesis?.heal().catch((error: Error) => this.log(`fieldtest: healing faults at close failed: ${error.message}`));
    await Promise.allSettled([...this.agents.map((agent) => agent.close()), this.hashes.close()]);
  }
}
