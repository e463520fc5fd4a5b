import t from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlertWatcher } from "../src/observe/alerts.ts";
import { MetricStore } from "../src/observe/metrics.ts";
import { PrometheusServer, renderPrometheusConfig, resolveSource } from "../src/observe/prometheus.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import { BINARIES, eventually, freePort, haveBinary } from "./fixtures/binaries.ts";
import { testInventory } from "./fixtures/inventory.ts";

t.setTimeout(180_000);

t.test("config rendering and source resolution", async (t) => {
  const inventory = testInventory(2);
  const source = resolveSource(inventory, { name: "app", agent: "agent-2", port: 9100, path: "/stats" });
  t.same(source, { name: "app", host: "127.0.0.1", port: 9100, agent: "agent-2", path: "/stats" });
  t.throws(() => resolveSource(inventory, { name: "app", agent: "agent-9", port: 1 }), /agent "agent-9" is not in the inventory \(agents: agent-1, agent-2\)/);

  const yaml = renderPrometheusConfig({
    scrapeInterval: "5s",
    website: { host: "127.0.0.1", port: 8080, basicAuth: { username: "u", password: "p" } },
    nodeExporters: [{ agent: "agent-1", host: "::1", port: 9100 }],
    sources: [source],
    externalLabels: { namespace: "obs-test" },
    rulesFile: "/run/rules.yml",
  });
  t.match(yaml, /scrape_interval: 5s\n\s+evaluation_interval: 5s/);
  t.match(yaml, /job_name: fieldtest[\s\S]*basic_auth:\n\s+username: u\n\s+password: p[\s\S]*- 127\.0\.0\.1:8080/);
  t.match(yaml, /job_name: node[\s\S]*- "\[::1\]:9100"\n\s+labels:\n\s+agent: agent-1/);
  t.match(yaml, /job_name: app\n\s+metrics_path: \/stats/);
  t.match(yaml, /rule_files:\n\s+- \/run\/rules\.yml/);

  t.throws(() => renderPrometheusConfig({ sources: [source, source] }), /source "app": name appears twice/);
  t.throws(() => renderPrometheusConfig({ sources: [{ ...source, name: "node" }] }), /"node": name is reserved/);
  t.throws(() => renderPrometheusConfig({ sources: [{ ...source, port: 0 }] }), /port must be an integer from 1 to 65535/);
  t.throws(() => renderPrometheusConfig({ sources: [{ ...source, path: "stats" }] }), /path must start with '\/'/);
  t.throws(() => renderPrometheusConfig({ scrapeInterval: "often" }), /scrapeInterval must be a Prometheus duration/);
});

/** Starts a program on a loopback port and stops it (by pid) when the test ends. */
function startChild(t: { teardown(fn: () => unknown): unknown }, command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: "ignore" });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });
  return child;
}

t.test("a real Prometheus: scrape, hot reload, node exporter, alerts, snapshot and import", async (t) => {
  if (!haveBinary(t, "prometheus") || !haveBinary(t, "nodeExporter")) return;
  const runDir = await mkdtemp(join(tmpdir(), "fieldtest-prom-"));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));

  const state = new RunState({ inventory: testInventory(3), scenario: "health", clientKeyPath: "/k", knownHostsPath: "/kh" });
  const metrics = new MetricStore();
  const site = await startWebsite({ state, metrics, port: 0 });
  t.teardown(() => site.close());

  const prometheus = await PrometheusServer.start({
    runDir,
    binary: BINARIES.prometheus.path,
    port: await freePort(),
    config: { scrapeInterval: "1s", website: { host: "127.0.0.1", port: site.port }, externalLabels: { namespace: "obs-test" } },
    alerts: [{ name: "ScenarioValueHigh", expr: "fieldtest_test_value > 40", for: "0s", severity: "critical", summary: "value above 40" }],
  });
  t.teardown(() => prometheus.stop());
  t.ok(prometheus.pid, "running as a child process");

  // 1. A pushed metric reaches Prometheus through the website's /metrics.
  metrics.push("fieldtest_test_value", 42, { labels: { agent: "agent-1" }, help: "A test value" });
  const pushed = await eventually("fieldtest_test_value in Prometheus", async () => {
    const result = await prometheus.query('fieldtest_test_value{job="fieldtest"}');
    return result.length > 0 ? result : undefined;
  });
  t.equal(pushed[0]!.value[1], "42");
  t.equal(pushed[0]!.metric.agent, "agent-1");
  const recordedAt = new Date();

  // 2. A node exporter added as a source with a hot reload (the Prometheus pid stays the same).
  const exporterPort = await freePort();
  startChild(t, BINARIES.nodeExporter.path, [`--web.listen-address=127.0.0.1:${exporterPort}`, "--collector.disable-defaults", "--collector.loadavg", "--collector.meminfo"]);
  const pid = prometheus.pid;
  await prometheus.addSource({ name: "agent-1-node", host: "127.0.0.1", port: exporterPort, agent: "agent-1" });
  t.equal(prometheus.pid, pid, "reloaded, not restarted");
  t.match(await readFile(prometheus.configPath, "utf8"), /job_name: agent-1-node/);
  const memory = await eventually("node_memory_MemTotal_bytes from the node exporter", async () => {
    const result = await prometheus.query('node_memory_MemTotal_bytes{job="agent-1-node"}');
    return result.length > 0 ? result : undefined;
  });
  t.ok(Number(memory[0]!.value[1]) > 0, "node exporter memory total is queryable");
  t.equal(memory[0]!.metric.agent, "agent-1");

  // 3. Alerts: a rule that fires reaches the RunState and the webhook once; a bad rule is refused.
  const received: unknown[] = [];
  const hook = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.end();
    });
  });
  hook.listen(0, "127.0.0.1");
  await once(hook, "listening");
  t.teardown(() => new Promise((r) => hook.close(r)));
  const errors: Error[] = [];
  const watcher = new AlertWatcher({
    prometheusUrl: prometheus.url,
    auth: prometheus.auth,
    state,
    webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`,
    intervalMs: 200,
    onError: (e) => errors.push(e),
  });
  watcher.start();
  t.teardown(() => watcher.stop());
  await eventually("the alert webhook", async () => (received.length > 0 ? true : undefined));
  t.match(received[0], { alert: { name: "ScenarioValueHigh", state: "firing", labels: { severity: "critical", agent: "agent-1" } }, run: { namespace: "obs-test", scenario: "health" } });
  t.match(state.activeAlerts, [{ name: "ScenarioValueHigh", state: "firing" }]);
  await watcher.poll();
  t.equal(received.length, 1, "no second webhook while the alert keeps firing");
  t.same(errors, []);

  await t.rejects(prometheus.addAlert({ name: "Broken", expr: "sum(" }), /prometheus reload failed:\n.*level=error/);
  await prometheus.addAlert({ name: "NodeExporterUp", expr: 'up{job="agent-1-node"} == 1', for: "1s" });
  t.notMatch(await readFile(prometheus.rulesPath, "utf8"), /Broken/, "the rejected rule was rolled back");

  // 4. Snapshot into the run directory, stop, serve the snapshot from a new process.
  const snapshotDir = await prometheus.snapshot();
  t.equal(snapshotDir, join(runDir, "prometheus-snapshot"));
  t.ok((await stat(snapshotDir)).isDirectory());
  await t.rejects(prometheus.snapshot(), /already exists/);
  await prometheus.stop();
  await t.rejects(fetch(`${prometheus.url}/-/ready`), "stopped");

  const importDir = await mkdtemp(join(tmpdir(), "fieldtest-prom-import-"));
  t.teardown(() => rm(importDir, { recursive: true, force: true }));
  const imported = await PrometheusServer.importSnapshot({ snapshotDir, workDir: importDir, binary: BINARIES.prometheus.path, port: await freePort() });
  t.teardown(() => imported.stop());
  const old = await imported.query("fieldtest_test_value", recordedAt);
  t.equal(old[0]?.value[1], "42", "the pushed value is served from the snapshot");
  await imported.stop();
});

t.test("start failures are reported with Prometheus' own words", async (t) => {
  if (!haveBinary(t, "prometheus")) return;
  const runDir = await mkdtemp(join(tmpdir(), "fieldtest-prom-bad-"));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  await t.rejects(
    PrometheusServer.start({ runDir, binary: join(runDir, "no-such-prometheus"), port: await freePort(), config: {} }),
    /prometheus binary ".*no-such-prometheus" not found: apt-get install prometheus/,
  );
  await t.rejects(
    PrometheusServer.start({ runDir, binary: BINARIES.prometheus.path, port: await freePort(), config: {}, alerts: [{ name: "X", expr: "sum(" }] }),
    /prometheus exited before it was ready:[\s\S]*rules/,
  );
  await t.rejects(PrometheusServer.importSnapshot({ snapshotDir: join(runDir, "nothing"), workDir: runDir }), /snapshotDir .* is not a directory/);
});
