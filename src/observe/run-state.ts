import type { AgentSpec, Inventory } from "../core/inventory.ts";
import { Listeners } from "./listeners.ts";
import type { LogLine } from "./log-rings.ts";
import { validateAlertRule, type ActiveAlert, type AlertRule, type ValidAlertRule } from "./alerts.ts";

export type RunStatus = "running" | "passed" | "failed";

export interface RunResult {
  status: RunStatus;
  /** Set when status is `failed`. */
  error?: string;
}

export type { LogLine } from "./log-rings.ts";

export type RunEvent =
  | { type: "inventory" }
  | { type: "phase"; phase: string }
  | { type: "result"; result: RunResult }
  | { type: "service"; name: string; url: string }
  | { type: "alerts" }
  | { type: "log"; log: LogLine }
  | { type: "ended" };

export interface RunStateOptions {
  inventory: Inventory;
  scenario: string;
  /** The run directory's id, so a page reached through a tunnel says which run it is. */
  runId?: string;
  /** Private key the debug commands use; the caller owns the file. */
  clientKeyPath: string;
  /** known_hosts holding the agents' host keys, so debug commands verify them. */
  knownHostsPath: string;
}

export interface AgentView {
  name: string;
  host: string;
  sshPort: number;
  user: string;
  portRange: [number, number];
  /** The `image` label when the provisioner set one. */
  image?: string;
  labels: Record<string, string>;
  ssh: string;
}

/** The run as /api/state serves it (the website adds its log streams): plain JSON. */
export interface RunStateSnapshot {
  runId?: string;
  namespace: string;
  target: string;
  scenario: string;
  createdAt: string;
  expiresAt: string;
  /** Seconds until the namespace's TTL runs out (negative once expired). */
  ttlRemainingSeconds: number;
  phase: string;
  result: RunResult;
  /** The run is over: the page shows this state as final and stops asking for more. */
  ended: boolean;
  agents: AgentView[];
  services: { name: string; url: string }[];
  alertRules: ValidAlertRule[];
  activeAlerts: ActiveAlert[];
}

/** POSIX shell quoting, so a debug command survives paths with spaces when pasted. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Everything the website shows about one run, and its log lines as they arrive. One instance
 * per run, passed explicitly to whoever needs it; `subscribe` is how the website and the run
 * directory learn of changes without polling.
 */
export class RunState {
  readonly scenario: string;
  readonly runId: string | undefined;
  readonly #clientKeyPath: string;
  readonly #knownHostsPath: string;
  readonly #listeners = new Listeners<RunEvent>();
  #inventory: Inventory;
  #phase = "starting";
  #result: RunResult = { status: "running" };
  #ended = false;
  readonly #services = new Map<string, string>();
  readonly #alertRules = new Map<string, ValidAlertRule>();
  #activeAlerts: ActiveAlert[] = [];
  /** The last receipt time stamped and its text: lines arrive by the thousand per millisecond. */
  #stamp = { ms: Number.NaN, iso: "" };

  constructor(options: RunStateOptions) {
    this.#inventory = options.inventory;
    this.scenario = options.scenario;
    this.runId = options.runId;
    this.#clientKeyPath = options.clientKeyPath;
    this.#knownHostsPath = options.knownHostsPath;
  }

  get inventory(): Inventory {
    return this.#inventory;
  }

  /** Agents were added or removed: the website's agent table follows. */
  setInventory(inventory: Inventory): void {
    this.#inventory = inventory;
    this.#emit({ type: "inventory" });
  }

  get phase(): string {
    return this.#phase;
  }

  setPhase(phase: string): void {
    this.#phase = phase;
    this.#emit({ type: "phase", phase });
  }

  get result(): RunResult {
    return this.#result;
  }

  pass(): void {
    this.#result = { status: "passed" };
    this.#emit({ type: "result", result: this.#result });
  }

  fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#result = { status: "failed", error: message };
    this.#emit({ type: "result", result: this.#result });
  }

  /** The run has ended: result, checks and history are final, and the runner is about to exit. */
  end(): void {
    this.#ended = true;
    this.#emit({ type: "ended" });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A link shown on the website, e.g. a service a scenario started, Prometheus or Grafana. */
  addService(name: string, url: string): void {
    if (typeof name !== "string" || name.trim() === "") throw new Error("addService: name must be a non-empty string");
    if (!URL.canParse(url)) throw new Error(`addService("${name}"): url ${JSON.stringify(url)} is not an absolute URL such as http://127.0.0.1:8000/`);
    // The website renders it as a link: a javascript: or data: URL would run in its origin.
    const { protocol } = new URL(url);
    if (protocol !== "http:" && protocol !== "https:") throw new Error(`addService("${name}"): url ${JSON.stringify(url)} must be http:// or https://, not ${protocol}`);
    this.#services.set(name, url);
    this.#emit({ type: "service", name, url });
  }

  get services(): ReadonlyMap<string, string> {
    return this.#services;
  }

  /**
   * A line a daemon printed, stamped with its receipt time (a trailing newline dropped), for
   * the subscribers: the run directory's log files and the website, which keeps recent lines.
   */
  appendLog(agent: string, daemon: string, line: string): void {
    const log = { time: this.#now(), agent, daemon, line: line.endsWith("\n") ? line.replace(/\r?\n$/, "") : line };
    this.#emit({ type: "log", log });
  }

  /** Validates and records an alert rule; a rule with the same name replaces the old one. */
  addAlert(rule: AlertRule): ValidAlertRule {
    const valid = validateAlertRule(rule);
    this.#alertRules.set(valid.name, valid);
    this.#emit({ type: "alerts" });
    return valid;
  }

  get alertRules(): ValidAlertRule[] {
    return [...this.#alertRules.values()];
  }

  /** Set by the AlertWatcher from Prometheus' view; only emits when something changed. */
  setActiveAlerts(alerts: ActiveAlert[]): void {
    const changed = JSON.stringify(alerts) !== JSON.stringify(this.#activeAlerts);
    this.#activeAlerts = alerts;
    if (changed) this.#emit({ type: "alerts" });
  }

  get activeAlerts(): ActiveAlert[] {
    return this.#activeAlerts;
  }

  /** The command a person pastes to get a shell on the agent. */
  debugCommand(agent: AgentSpec): string {
    return [
      "ssh",
      "-i",
      shellQuote(this.#clientKeyPath),
      "-o",
      shellQuote(`UserKnownHostsFile=${this.#knownHostsPath}`),
      "-p",
      String(agent.sshPort),
      shellQuote(`${agent.user}@${agent.host}`),
    ].join(" ");
  }

  /** Listens to every change; returns the function that stops listening. */
  subscribe(listener: (event: RunEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  snapshot(now: Date = new Date()): RunStateSnapshot {
    const inv = this.#inventory;
    return {
      ...(this.runId === undefined ? {} : { runId: this.runId }),
      namespace: inv.namespace,
      target: inv.target,
      scenario: this.scenario,
      createdAt: inv.createdAt,
      expiresAt: inv.expiresAt,
      ttlRemainingSeconds: Math.round((Date.parse(inv.expiresAt) - now.getTime()) / 1000),
      phase: this.#phase,
      result: this.#result,
      ended: this.#ended,
      agents: inv.agents.map((agent) => ({
        name: agent.name,
        host: agent.host,
        sshPort: agent.sshPort,
        user: agent.user,
        portRange: agent.portRange,
        ...(agent.labels.image === undefined ? {} : { image: agent.labels.image }),
        labels: agent.labels,
        ssh: this.debugCommand(agent),
      })),
      services: [...this.#services].map(([name, url]) => ({ name, url })),
      alertRules: this.alertRules,
      activeAlerts: this.#activeAlerts,
    };
  }

  #now(): string {
    const ms = Date.now();
    if (ms !== this.#stamp.ms) this.#stamp = { ms, iso: new Date(ms).toISOString() };
    return this.#stamp.iso;
  }

  #emit(event: RunEvent): void {
    this.#listeners.emit(event);
  }
}
