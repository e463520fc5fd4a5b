/**
 * Push throughput and /metrics render time of MetricStore with 10,000 series.
 * Goals: ≥ 100,000 pushes/s and a render ≤ 50 ms. Run: npx tsx bench/metrics.ts
 */
import { performance } from "node:perf_hooks";
import { MetricStore, type MetricType } from "../src/observe/metrics.ts";

const SERIES = 10_000;
const PUSHES = 1_000_000;
const RENDERS = 20;

const store = new MetricStore();
// 10 metrics × 1,000 label sets, half gauges and half counters, like a fleet of agents
// each reporting a handful of metrics per peer.
const names = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? `bench_gauge_${i}` : `bench_ops_${i}_total`));
const labelSets = Array.from({ length: SERIES / names.length }, (_, i) => ({ agent: `agent-${i % 100}`, peer: `peer-${Math.floor(i / 100)}` }));
const typeOf = (name: string): MetricType => (name.endsWith("_total") ? "counter" : "gauge");

for (const name of names) for (const labels of labelSets) store.push(name, 1, { labels, type: typeOf(name) });

const start = performance.now();
for (let i = 0; i < PUSHES; i++) {
  const name = names[i % names.length]!;
  store.push(name, i % 1000, { labels: labelSets[i % labelSets.length]!, type: typeOf(name) });
}
const pushSeconds = (performance.now() - start) / 1000;
const pushesPerSecond = PUSHES / pushSeconds;

const renderTimes: number[] = [];
let bytes = 0;
for (let i = 0; i < RENDERS; i++) {
  const t0 = performance.now();
  bytes = (await store.render()).length;
  renderTimes.push(performance.now() - t0);
}
renderTimes.sort((a, b) => a - b);
const median = renderTimes[Math.floor(RENDERS / 2)]!;
const worst = renderTimes[RENDERS - 1]!;

console.log(`series: ${SERIES}`);
console.log(`push: ${PUSHES} pushes in ${pushSeconds.toFixed(2)} s = ${Math.round(pushesPerSecond).toLocaleString("en")} pushes/s (goal ≥ 100,000) ${pushesPerSecond >= 100_000 ? "OK" : "MISSED"}`);
console.log(`render: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms of ${RENDERS}, ${(bytes / 1024).toFixed(0)} KiB (goal ≤ 50 ms) ${median <= 50 ? "OK" : "MISSED"}`);
