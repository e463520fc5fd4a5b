/**
 * What a scenario asks of the run's observation through its Cloud: metrics, scrape sources,
 * service links, alerts. The contract is here, below both the scenario API and `observe/`, which
 * implements it, so the arrows point down from both.
 */

export const METRIC_TYPES = ["gauge", "counter"] as const;
export type MetricType = (typeof METRIC_TYPES)[number];
export type LabelValues = Record<string, string | number>;

export interface PushOptions {
  labels?: LabelValues;
  /** HELP text; only the first push of a name sets it. */
  help?: string;
  /** `gauge` (default) sets the value; `counter` adds `value` (≥ 0) to the running total. */
  type?: MetricType;
}

/** What a scenario passes to `cloud.addPrometheusSource`: an exporter on one agent. */
export interface PrometheusSourceSpec {
  name: string;
  agent: string;
  port: number;
  /** Defaults to /metrics. */
  path?: string;
}

/** What a scenario passes to `cloud.addAlert`. */
export interface AlertRule {
  /** Becomes the `alertname` label; Prometheus convention is CamelCase, e.g. `HighLatency`. */
  name: string;
  /** A PromQL expression; the alert fires for every series it returns. */
  expr: string;
  /** How long `expr` must hold before firing, a Prometheus duration such as `30s` or `5m`. */
  for?: string;
  severity?: AlertSeverity;
  summary?: string;
}

export const ALERT_SEVERITIES = ["info", "warning", "critical"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** Where a scenario's metrics, scrape sources, service links and alerts go (the run's observation). */
export interface CloudObserver {
  pushMetric(name: string, value: number, options?: PushOptions): void;
  addPrometheusSource(spec: PrometheusSourceSpec): Promise<void>;
  addService(name: string, url: string): void;
  addAlert(rule: AlertRule & { dump?: boolean }): Promise<void>;
}
