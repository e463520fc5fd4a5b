import { stringify } from "yaml";

import { ALERT_SEVERITIES, type AlertRule, type AlertSeverity } from "../runtime/observer.ts";

export { ALERT_SEVERITIES, type AlertRule, type AlertSeverity } from "../runtime/observer.ts";

/** A rule after validation, with its defaults filled in. */
export interface ValidAlertRule extends Required<Omit<AlertRule, "summary">> {
  summary?: string;
}

/** One entry of Prometheus' /api/v1/alerts: a pending or firing instance of a rule. */
export interface ActiveAlert {
  name: string;
  state: "pending" | "firing";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  activeAt: string;
  value: string;
}

export class AlertRuleError extends Error {}

/**
 * A webhook URL as records and messages show it: scheme and host only, since the path,
 * query or user part is often the token (`https://hooks.example/services/T0/B0/secret`).
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return "(redacted)";
  const { protocol, host } = new URL(url);
  return `${protocol}//${host}/(redacted)`;
}

const ALERT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Prometheus' own duration grammar (model.ParseDuration), units largest first. */
const PROM_DURATION = /^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;

export function isPrometheusDuration(text: string): boolean {
  return text !== "" && PROM_DURATION.test(text);
}

/**
 * Checks the fields JavaScript can check. PromQL itself is parsed by Prometheus: a bad `expr`
 * surfaces as a failed reload (PrometheusServer) or in `promtool check rules`.
 */
export function validateAlertRule(rule: AlertRule): ValidAlertRule {
  const where = `alert ${JSON.stringify(rule?.name)}`;
  if (typeof rule?.name !== "string" || !ALERT_NAME.test(rule.name)) {
    throw new AlertRuleError(`${where}: name must match ${ALERT_NAME} (letters, digits, '_'), e.g. "HighLatency"`);
  }
  if (typeof rule.expr !== "string" || rule.expr.trim() === "") {
    throw new AlertRuleError(`${where}: expr must be a non-empty PromQL expression, e.g. "up == 0"`);
  }
  const forDuration = rule.for ?? "0s";
  if (typeof forDuration !== "string" || !isPrometheusDuration(forDuration)) {
    throw new AlertRuleError(`${where}: for must be a Prometheus duration such as "30s", "5m" or "1h30m", got ${JSON.stringify(rule.for)}`);
  }
  const severity = rule.severity ?? "warning";
  if (!ALERT_SEVERITIES.includes(severity)) {
    throw new AlertRuleError(`${where}: severity must be one of ${ALERT_SEVERITIES.join(", ")}, got ${JSON.stringify(rule.severity)}`);
  }
  if (rule.summary !== undefined && typeof rule.summary !== "string") {
    throw new AlertRuleError(`${where}: summary must be a string`);
  }
  return { name: rule.name, expr: rule.expr.trim(), for: forDuration, severity, ...(rule.summary === undefined ? {} : { summary: rule.summary }) };
}

/** A Prometheus rules file (YAML) with one group holding every rule. */
export function renderRulesFile(rules: readonly AlertRule[]): string {
  const seen = new Set<string>();
  const rendered = rules.map((input) => {
    const rule = validateAlertRule(input);
    if (seen.has(rule.name)) throw new AlertRuleError(`alert "${rule.name}": name appears twice; alert names must be unique`);
    seen.add(rule.name);
    return {
      alert: rule.name,
      expr: rule.expr,
      for: rule.for,
      labels: { severity: rule.severity },
      ...(rule.summary === undefined ? {} : { annotations: { summary: rule.summary } }),
    };
  });
  return stringify({ groups: [{ name: "fieldtest", rules: rendered }] });
}

interface PromAlertsResponse {
  status: string;
  error?: string;
  data?: { alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string; activeAt: string; value: string }[] };
}

/** Reads pending and firing alerts from a Prometheus server. */
export async function fetchActiveAlerts(prometheusUrl: string, signal?: AbortSignal): Promise<ActiveAlert[]> {
  const response = await fetch(new URL("/api/v1/alerts", prometheusUrl), signal ? { signal } : {});
  const body = (await response.json()) as PromAlertsResponse;
  if (!response.ok || body.status !== "success" || !body.data) {
    throw new Error(`Prometheus ${prometheusUrl} /api/v1/alerts failed: ${body.error ?? response.statusText}`);
  }
  return body.data.alerts
    .filter((a) => a.state === "pending" || a.state === "firing")
    .map((a) => ({
      name: a.labels.alertname ?? "",
      state: a.state as ActiveAlert["state"],
      labels: a.labels,
      annotations: a.annotations,
      activeAt: a.activeAt,
      value: a.value,
    }));
}

/** Identity of one alert instance: rule name plus its label set. */
export function alertKey(alert: Pick<ActiveAlert, "labels">): string {
  return JSON.stringify(Object.entries(alert.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What the watcher needs of the run (its RunState): where to mirror the alerts, and what a webhook is told. */
export interface AlertSink {
  setActiveAlerts(alerts: ActiveAlert[]): void;
  readonly scenario: string;
  readonly inventory: { readonly namespace: string };
}

export interface AlertWatcherOptions {
  prometheusUrl: string;
  state: AlertSink;
  /** Receives a POST with JSON `{ alert, run }` when an alert instance starts firing. */
  webhookUrl?: string;
  intervalMs?: number;
  /** Called with errors from polling or the webhook, which must not stop the run. */
  onError?: (error: Error) => void;
}

/**
 * Polls Prometheus for alerts, mirrors them into the RunState for the website, and calls the
 * webhook once per alert instance when it enters `firing` (not again while it keeps firing).
 */
export class AlertWatcher {
  readonly #options: AlertWatcherOptions;
  #firing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(options: AlertWatcherOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // Skip a tick rather than pile up polls behind a slow Prometheus.
      if (!this.#inFlight) this.#inFlight = this.poll().finally(() => (this.#inFlight = undefined));
    }, this.#options.intervalMs ?? 2000);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  /** One poll; errors go to `onError` so a flaky Prometheus never fails the run. */
  async poll(): Promise<void> {
    const { state, webhookUrl, prometheusUrl } = this.#options;
    try {
      const alerts = await fetchActiveAlerts(prometheusUrl, AbortSignal.timeout(5000));
      state.setActiveAlerts(alerts);
      const nowFiring = new Set<string>();
      for (const alert of alerts) {
        if (alert.state !== "firing") continue;
        const key = alertKey(alert);
        nowFiring.add(key);
        if (!this.#firing.has(key) && webhookUrl) await this.#notify(webhookUrl, alert);
      }
      this.#firing = nowFiring;
    } catch (error) {
      this.#options.onError?.(error as Error);
    }
  }

  async #notify(webhookUrl: string, alert: ActiveAlert): Promise<void> {
    const { state } = this.#options;
    const response = await fetch(webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alert, run: { namespace: state.inventory.namespace, scenario: state.scenario } }),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`alert webhook ${redactUrl(webhookUrl)} answered ${response.status} ${response.statusText}`);
  }
}
