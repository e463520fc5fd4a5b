import t from "tap";
import { spawn } from "node:child_process";
import { MetricStore } from "../src/observe/metrics.ts";
import { BINARIES, haveBinary } from "./fixtures/binaries.ts";

/** Runs `promtool check metrics` on the exposition; resolves with its exit code and output. */
function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARIES.promtool.path, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

t.test("gauges set, counters add, exposition comes from the registry", async (t) => {
  const store = new MetricStore();
  store.push("queue_depth", 3, { labels: { agent: "agent-1" }, help: "Items waiting" });
  store.push("queue_depth", 7, { labels: { agent: "agent-1" } });
  store.push("queue_depth", 1, { labels: { agent: "agent-2" } });
  store.push("requests_total", 2, { type: "counter", labels: { agent: "agent-1", code: 200 } });
  store.push("requests_total", 5, { type: "counter", labels: { agent: "agent-1", code: 200 } });
  const text = await store.render();
  t.match(text, /# HELP queue_depth Items waiting\n# TYPE queue_depth gauge\n/);
  t.match(text, /queue_depth\{agent="agent-1"\} 7\n/);
  t.match(text, /queue_depth\{agent="agent-2"\} 1\n/);
  t.match(text, /# TYPE requests_total counter\nrequests_total\{agent="agent-1",code="200"\} 7\n/);
  t.same(store.names(), ["queue_depth", "requests_total"]);
  t.equal(store.version, 5);
  t.match(store.contentType, /^text\/plain/);
});

t.test("errors name the field and the fix", async (t) => {
  const store = new MetricStore();
  t.throws(() => store.push("9lives", 1), /metric name "9lives" is invalid/);
  t.throws(() => store.push("ops", 1, { type: "counter" }), /a counter's name must end in _total.*"ops_total"/);
  t.throws(() => store.push("x", 1, { type: "histogram" as never }), /type must be "gauge" or "counter"/);
  t.throws(() => store.push("x", 1, { labels: { "bad-label": "v" } }), /label name "bad-label" is invalid/);
  t.throws(() => store.push("x", 1, { labels: { __name: "v" } }), /label name "__name" is invalid/);
  store.push("temp", 1, { labels: { agent: "a" } });
  t.throws(() => store.push("temp", 1, { labels: { agent: "a", zone: "z" } }), /label "zone" was not in its first push \(labels: agent\)/);
  t.throws(() => store.push("temp", 1, { type: "counter" }), /type is "counter" but the metric was first pushed as a gauge/);
  t.throws(() => store.push("temp", Number.NaN), /value must be a finite number/);
  t.throws(() => store.push("temp", 1, { labels: { agent: {} as never } }), /label "agent" must be a string or number/);
  store.push("done_total", 1, { type: "counter" });
  t.throws(() => store.push("done_total", -1), /negative; a counter only goes up/);
  t.equal(store.names().includes("9lives"), false, "a rejected push creates nothing");
});

t.test("history is bounded and coalesced per resolution window", async (t) => {
  const store = new MetricStore({ pointsPerSeries: 4, resolutionMs: 1 });
  for (let i = 0; i < 10; i++) {
    store.push("level", i, { labels: { agent: "a" } });
    await new Promise((r) => setTimeout(r, 3));
  }
  const [series] = store.history({ name: "level" });
  t.equal(series!.v.length, 4);
  t.same(series!.v, [6, 7, 8, 9]);
  t.ok(series!.t.every((time, i) => i === 0 || time > series!.t[i - 1]!), "times increase");

  const coarse = new MetricStore({ resolutionMs: 60_000 });
  for (let i = 0; i < 100; i++) coarse.push("burst_total", 1, { type: "counter" });
  t.same(coarse.history()[0]!.v, [100], "one point per window, holding the running total");

  const wide = new MetricStore();
  for (let i = 0; i < 50; i++) wide.push("per_peer", i, { labels: { peer: `p${i}` } });
  t.equal(wide.history().length, 20, "20 series per metric by default");
  t.equal(wide.history({ limitPerMetric: 50 }).length, 50);
  t.same(wide.history({ name: "nope" }), []);
});

t.test("promtool check metrics accepts the exposition", async (t) => {
  if (!haveBinary(t, "promtool")) return;
  const store = new MetricStore();
  store.push("scenario_latency_seconds", 0.25, { labels: { agent: "agent-1" }, help: "Round-trip latency" });
  store.push("scenario_bytes_sent_total", 1024, { type: "counter", labels: { agent: "agent-1", peer: "agent-2" } });
  store.push("scenario_up", 1);
  const result = await promtoolCheckMetrics(await store.render());
  t.equal(result.code, 0, `promtool output: ${result.output}`);
  t.equal(result.output.trim(), "", "no lint problems");
});
