import t from "tap";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { grafanaContainerOptions } from "../src/observe/grafana.ts";
import { PrometheusServer } from "../src/observe/prometheus.ts";
import { BINARIES, freePort, haveBinary } from "./fixtures/binaries.ts";

// Grafana itself is not run (no Debian package): these checks cover what can break silently.
const GRAFANA = new URL("../observe/grafana/", import.meta.url);

interface Target {
  expr: string;
  datasource: { uid: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  datasource: { uid: string };
  query: { query: string };
}

async function load() {
  const datasources = parse(await readFile(new URL("provisioning/datasources/prometheus.yaml", GRAFANA), "utf8"));
  const providers = parse(await readFile(new URL("provisioning/dashboards/fieldtest.yaml", GRAFANA), "utf8"));
  const dashboard = JSON.parse(await readFile(new URL("dashboards/fieldtest.json", GRAFANA), "utf8")) as {
    uid: string;
    panels: Panel[];
    templating: { list: Variable[] };
  };
  return { datasources, providers, dashboard };
}

/** Grafana's variables replaced by what they expand to, so Prometheus can parse the query. */
function expand(expr: string): string {
  return expr.replaceAll("$__rate_interval", "1m").replaceAll("$metric", ".+").replaceAll("$agent", ".*");
}

/** `label_values(selector, label)` is Grafana syntax; the selector inside is PromQL. */
function variableSelector(query: string): string {
  const match = /^label_values\((.*),\s*[a-zA-Z_]+\)$/.exec(query);
  if (!match) throw new Error(`variable query ${query} is not label_values(selector, label)`);
  return match[1]!;
}

t.test("provisioning files agree with the dashboard", async (t) => {
  const { datasources, providers, dashboard } = await load();
  const uid = datasources.datasources[0].uid;
  t.equal(uid, "fieldtest-prometheus");
  t.equal(datasources.datasources[0].url, "${FIELDTEST_PROMETHEUS_URL}");
  // Prometheus takes basic auth only: the data source logs in with the run's credentials, which
  // startGrafana puts in the environment Grafana substitutes from.
  t.match(datasources.datasources[0], {
    basicAuth: true,
    basicAuthUser: "${FIELDTEST_PROMETHEUS_USER}",
    secureJsonData: { basicAuthPassword: "${FIELDTEST_PROMETHEUS_PASSWORD}" },
  });
  const env = grafanaContainerOptions(
    { image: "g", port: 3000, prometheusUrl: "http://127.0.0.1:9090", prometheusAuth: { username: "ops", password: "pw" }, provisioningDir: "/p", dashboardsDir: "/d", labels: {}, ttlSeconds: 60 },
    ["run"],
    "admin-pw",
  ).Env;
  t.ok(env?.includes("FIELDTEST_PROMETHEUS_USER=ops") && env.includes("FIELDTEST_PROMETHEUS_PASSWORD=pw"), "Grafana gets the run's Prometheus credentials");
  t.equal(providers.providers[0].options.path, "${FIELDTEST_GRAFANA_DASHBOARDS}");
  const graphs = dashboard.panels.filter((p) => p.type !== "row");
  t.ok(graphs.length >= 6);
  for (const panel of graphs) {
    t.equal(panel.datasource?.uid, uid, `panel ${panel.title} uses the provisioned data source`);
    for (const target of panel.targets ?? []) t.equal(target.datasource.uid, uid, `${panel.title}: ${target.expr}`);
  }
  for (const variable of dashboard.templating.list) t.equal(variable.datasource.uid, uid, `variable ${variable.name}`);
  t.ok(graphs.some((p) => p.targets?.some((q) => q.expr.includes('job="fieldtest"'))), "a panel shows pushed metrics");
  t.ok(graphs.some((p) => p.targets?.some((q) => q.expr.includes("node_cpu_seconds_total"))), "a panel shows node exporter CPU");
});

t.test("every dashboard query is valid PromQL for a real Prometheus", async (t) => {
  if (!haveBinary(t, "prometheus")) return;
  const { dashboard } = await load();
  const runDir = await mkdtemp(join(tmpdir(), "fieldtest-grafana-"));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const prometheus = await PrometheusServer.start({ runDir, binary: BINARIES.prometheus.path, port: await freePort(), config: {} });
  t.teardown(() => prometheus.stop());
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((q) => q.expr)),
    ...dashboard.templating.list.map((v) => variableSelector(v.query.query)),
  ];
  for (const expr of exprs) {
    await t.resolves(prometheus.query(expand(expr)), expr);
  }
});
