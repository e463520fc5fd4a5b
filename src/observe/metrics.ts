import { Counter, Gauge, Registry } from "prom-client";
import { Ring } from "./ring.ts";
import { METRIC_TYPES, type LabelValues, type MetricType, type PushOptions } from "../runtime/observer.ts";

export { METRIC_TYPES, type LabelValues, type MetricType, type PushOptions } from "../runtime/observer.ts";

export interface MetricStoreOptions {
  /** Chart points kept per series (default 300: five minutes at one point per second). */
  pointsPerSeries?: number;
  /** Pushes to a series within one such window share one chart point (default 1000 ms). */
  resolutionMs?: number;
  /** Series kept over all metrics (default DEFAULT_MAX_SERIES); a push that would add one more throws. */
  maxSeries?: number;
}

/**
 * 10,000 series: each costs chart history here and a line of every /metrics scrape. A label
 * with unbounded values (request ids, timestamps) would otherwise grow the runner per push.
 */
export const DEFAULT_MAX_SERIES = 10_000;

/** One series' recent history for the charts: parallel arrays, times in Unix seconds. */
export interface SeriesHistory {
  name: string;
  type: MetricType;
  help: string;
  labels: Record<string, string>;
  t: number[];
  v: number[];
}

export class MetricError extends Error {}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface SeriesRecord {
  labels: Record<string, string>;
  value: number;
  bucket: number;
  t: Ring<number>;
  v: Ring<number>;
}

interface MetricRecord {
  name: string;
  type: MetricType;
  help: string;
  labelNames: string[];
  labelSet: Set<string>;
  gauge?: Gauge;
  counter?: Counter;
  series: Map<string, SeriesRecord>;
}

/**
 * Metrics pushed by a scenario. Prometheus sees them through `render()` (prom-client's own
 * exposition of a private Registry, so nothing leaks into or from prom-client's global one);
 * the website's charts read `history()`, a bounded per-series time series.
 */
export class MetricStore {
  readonly registry = new Registry();
  readonly #metrics = new Map<string, MetricRecord>();
  readonly #points: number;
  readonly #resolutionMs: number;
  readonly #maxSeries: number;
  #seriesCount = 0;
  #version = 0;

  constructor(options: MetricStoreOptions = {}) {
    this.#points = options.pointsPerSeries ?? 300;
    this.#resolutionMs = options.resolutionMs ?? 1000;
    this.#maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
    if (!Number.isInteger(this.#maxSeries) || this.#maxSeries < 1) throw new RangeError(`maxSeries must be a positive integer, got ${this.#maxSeries}`);
  }

  /** Grows on every push: lets the website send chart updates only when something changed. */
  get version(): number {
    return this.#version;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Records one value. The first push of a name fixes its type, help and label names; later
   * pushes only look up maps, so the cost does not grow with the number of series.
   */
  push(name: string, value: number, options: PushOptions = {}): void {
    const metric = this.#metrics.get(name) ?? this.#create(name, options);
    if (options.type !== undefined && options.type !== metric.type) {
      throw new MetricError(`metric "${name}": type is "${options.type}" but the metric was first pushed as a ${metric.type}; a name keeps one type`);
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new MetricError(`metric "${name}": value must be a finite number, got ${String(value)}`);
    }
    if (metric.type === "counter" && value < 0) {
      throw new MetricError(`metric "${name}": value ${value} is negative; a counter only goes up — push it as a gauge instead`);
    }
    const labels = options.labels ?? {};
    let key = "";
    for (const labelName in labels) {
      if (!metric.labelSet.has(labelName)) {
        throw new MetricError(
          `metric "${name}": label "${labelName}" was not in its first push (labels: ${metric.labelNames.join(", ") || "none"}); push every series of a metric with the same label names`,
        );
      }
    }
    for (const labelName of metric.labelNames) {
      const labelValue = labels[labelName];
      if (labelValue !== undefined && typeof labelValue !== "string" && typeof labelValue !== "number") {
        throw new MetricError(`metric "${name}": label "${labelName}" must be a string or number, got ${typeof labelValue}`);
      }
      key += `${labelValue ?? ""}\u0000`;
    }
    let series = metric.series.get(key);
    if (!series) {
      if (this.#seriesCount >= this.#maxSeries) {
        throw new MetricError(
          `metric "${name}": a new series (labels ${JSON.stringify(labels)}) would pass the cap of ${this.#maxSeries} series over all metrics; ` +
            "a label with unbounded values (ids, timestamps) makes one series per value: drop that label or aggregate before pushing",
        );
      }
      this.#seriesCount++;
      series = this.#newSeries(metric, labels);
      metric.series.set(key, series);
    }
    if (metric.counter) {
      metric.counter.inc(series.labels, value);
      series.value += value;
    } else {
      metric.gauge!.set(series.labels, value);
      series.value = value;
    }
    this.#record(series);
    this.#version++;
  }

  /** The Prometheus text exposition of every pushed metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Names of the pushed metrics, in first-push order. */
  names(): string[] {
    return [...this.#metrics.keys()];
  }

  /**
   * Chart data. `limit` caps the series returned per metric, because a browser cannot draw
   * thousands of lines and the JSON would be large.
   */
  history(options: { name?: string; limitPerMetric?: number } = {}): SeriesHistory[] {
    const limit = options.limitPerMetric ?? 20;
    const out: SeriesHistory[] = [];
    for (const metric of this.#metrics.values()) {
      if (options.name !== undefined && options.name !== metric.name) continue;
      let taken = 0;
      for (const series of metric.series.values()) {
        if (taken++ >= limit) break;
        out.push({ name: metric.name, type: metric.type, help: metric.help, labels: series.labels, t: series.t.toArray(), v: series.v.toArray() });
      }
    }
    return out;
  }

  #create(name: string, options: PushOptions): MetricRecord {
    if (typeof name !== "string" || !METRIC_NAME.test(name)) {
      throw new MetricError(`metric name ${JSON.stringify(name)} is invalid: use letters, digits, '_' and ':', not starting with a digit (e.g. requests_total)`);
    }
    const type = options.type ?? "gauge";
    if (!METRIC_TYPES.includes(type)) {
      throw new MetricError(`metric "${name}": type must be "gauge" or "counter", got ${JSON.stringify(type)}`);
    }
    if (type === "counter" && !name.endsWith("_total")) {
      throw new MetricError(`metric "${name}": a counter's name must end in _total (Prometheus convention, checked by promtool), e.g. "${name}_total"`);
    }
    const labelNames = Object.keys(options.labels ?? {});
    for (const labelName of labelNames) {
      if (!LABEL_NAME.test(labelName) || labelName.startsWith("__")) {
        throw new MetricError(`metric "${name}": label name "${labelName}" is invalid: use letters, digits and '_', not starting with a digit or "__"`);
      }
    }
    if (options.help !== undefined && typeof options.help !== "string") {
      throw new MetricError(`metric "${name}": help must be a string`);
    }
    const help = options.help?.trim() || `${name}, pushed by the scenario`;
    const config = { name, help, labelNames, registers: [this.registry] };
    const record: MetricRecord = { name, type, help, labelNames, labelSet: new Set(labelNames), series: new Map() };
    if (type === "counter") record.counter = new Counter(config);
    else record.gauge = new Gauge(config);
    this.#metrics.set(name, record);
    return record;
  }

  #newSeries(metric: MetricRecord, labels: LabelValues): SeriesRecord {
    // A private copy with string values: prom-client keeps a reference to this object.
    const own: Record<string, string> = {};
    for (const labelName of metric.labelNames) {
      const labelValue = labels[labelName];
      if (labelValue !== undefined) own[labelName] = String(labelValue);
    }
    return { labels: own, value: 0, bucket: -1, t: new Ring(this.#points), v: new Ring(this.#points) };
  }

  /** One chart point per series per resolution window: the newest value of that window. */
  #record(series: SeriesRecord): void {
    const now = Date.now();
    const bucket = Math.floor(now / this.#resolutionMs);
    if (bucket === series.bucket) {
      series.t.replaceLast(now / 1000);
      series.v.replaceLast(series.value);
    } else {
      series.bucket = bucket;
      series.t.push(now / 1000);
      series.v.push(series.value);
    }
  }
}
