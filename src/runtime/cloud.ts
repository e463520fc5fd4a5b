import type { Inventory } from "../inventory.ts";
import { Agent } from "./agent.ts";
import type { LogSink } from "./daemon.ts";
import { HashCache } from "./hash-cache.ts";

export interface CloudOptions {
  /** The namespace's client private key, which every agent accepts. */
  privateKey: string;
  /** Where daemon output lines and scenario log messages go. */
  logSink: LogSink;
}

/** The fleet handed to a scenario's `run`: its agents, by name or all together. */
export class Cloud {
  readonly namespace: string;
  readonly agents: readonly Agent[];

  private constructor(readonly inventory: Inventory, private readonly options: CloudOptions) {
    this.namespace = inventory.namespace;
    const hashes = new HashCache();
    this.agents = inventory.agents.map((spec) => new Agent(spec, { privateKey: options.privateKey, hashes, logSink: options.logSink }));
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

  /** Stops the daemons this run started and closes every connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.agents.map((agent) => agent.close()));
  }
}
