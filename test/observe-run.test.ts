// A live observed run through the real CLI: website in Chromium, Prometheus scraping the
// website, node exporters and a scenario's own exporter, the run directory, and the
// snapshot served again by `fieldtest prometheus import`.
import t from "tap";
import { once } from "node:events";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { queryPrometheus, type QueryResult } from "../src/observe/prometheus.ts";
import type { PrometheusAuth } from "../src/observe/prometheus-auth.ts";
import { eventually, freePort, haveBinary, launchChromium } from "./fixtures/binaries.ts";
import { cleanupNamespace, containerCount, ROOT, requireDocker, startCli, tempHome, uniqueNamespace, waitForOutput } from "./helpers/fleet.ts";

t.setTimeout(240_000);

/** The user name and password file a Prometheus line of the output names. */
async function announcedAuth(output: string): Promise<PrometheusAuth> {
  const [, username, passwordFile] = /prometheus http:\S+  \(user (\S+), password in (\S+?)[;)]/.exec(output) ?? [];
  if (!username || !passwordFile) throw new Error(`no Prometheus credentials in the output:\n${output}`);
  return { username, password: (await readFile(passwordFile, "utf8")).trim() };
}

/** Resolves with the samples once the query returns at least `count` of them. */
function samples(prometheusUrl: string, auth: PrometheusAuth, expr: string, count = 1): Promise<QueryResult[]> {
  return eventually(`${expr} in Prometheus`, async () => {
    const result = await queryPrometheus(prometheusUrl, auth, expr);
    return result.length >= count ? result : undefined;
  }, 60_000, 500);
}

const docker = await requireDocker(t);
if (docker && haveBinary(t, "prometheus") && haveBinary(t, "chromium")) {
  t.test("run --website --prometheus --monitoring: live page, queryable metrics, run directory, snapshot import", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("obs");
    cleanupNamespace(t, docker, namespace);
    const runsDir = join(home, "runs");
    const stopFile = join(home, "stop");
    const [websitePort, prometheusPort, importPort] = [await freePort(), await freePort(), await freePort()];
    const runner = startCli(
      [
        "run", join(ROOT, "test/fixtures/scenarios/observed.ts"), "--localhost", "--namespace", namespace, "--ttl", "10m",
        "--website", "--website-port", String(websitePort), "--prometheus", "--prometheus-port", String(prometheusPort),
        "--scrape-interval", "1s", "--monitoring", "--runs-dir", runsDir, "--json",
      ],
      { FIELDTEST_HOME: home, FIELDTEST_TEST_STOP_FILE: stopFile },
    );
    // Whatever happens below, let the scenario end so the runner tears its agents down.
    t.teardown(async () => {
      await writeFile(stopFile, "");
      if (runner.exitCode === null) await once(runner, "exit");
    });
    await waitForOutput(runner, /running scenario observed/, "the scenario to start", 120_000);
    const website = `http://127.0.0.1:${websitePort}`;
    const prometheus = `http://127.0.0.1:${prometheusPort}`;
    t.match(runner.output(), `website ${website}`);
    t.match(runner.output(), /node exporters running on 2 agent\(s\)/);

    await t.test("the website shows every agent and a chart that moves", async (t) => {
      const browser = await launchChromium(t);
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(error.message));
      await page.goto(website);
      const rows = page.locator("#agents tbody tr");
      await rows.nth(1).waitFor();
      t.same(await rows.locator("td:first-child").allTextContents(), ["agent-001", "agent-002"]);
      t.equal(await page.locator("#phase").textContent(), "running");
      t.match(await page.locator("#services").textContent(), /Prometheus[\s\S]*exporter/);
      const canvas = page.locator('.chart[data-metric="test_value"] canvas');
      await canvas.waitFor();
      const pixels = () => canvas.evaluate((c: HTMLCanvasElement) => c.toDataURL());
      const before = await pixels();
      await eventually("the chart to redraw with new pushes", async () => ((await pixels()) !== before ? true : undefined), 15_000, 250);
      t.pass("the test_value chart changed without a reload");
      await page.locator('pre[data-stream="agent-001/node-exporter"]').waitFor({ state: "attached" });
      const artifacts = join(ROOT, ".tap", "artifacts");
      await mkdir(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, "observe-live-run.png"), fullPage: true });
      t.same(problems, [], "no script errors in the page");
    });

    await t.test("Prometheus has the pushed metric, the node exporters and the scenario's source", async (t) => {
      const auth = await announcedAuth(runner.output());
      const pushed = await samples(prometheus, auth, 'test_value{job="fieldtest",source="loop"}');
      t.ok(Number(pushed[0]!.value[1]) > 0, `test_value is ${pushed[0]!.value[1]}`);
      const nodes = await samples(prometheus, auth, 'node_uname_info{job="node"}', 2);
      t.same(nodes.map((s) => s.metric.agent).sort(), ["agent-001", "agent-002"], "one node exporter per agent, labelled");
      const custom = await samples(prometheus, auth, 'scenario_exporter_answer{job="custom",agent="agent-001"}');
      t.equal(custom[0]!.value[1], "42");
      // ALERTS only has series for a rule that is pending or firing, so its labels are the check.
      const alerts = await samples(prometheus, auth, 'ALERTS{alertname="ValueIsPositive"}');
      t.match(alerts[0]!.metric, { alertstate: /^(pending|firing)$/, severity: "warning", source: "loop" }, "the scenario's alert rule is evaluated on its metric");
    });

    await writeFile(stopFile, "");
    const [code] = await once(runner, "exit");
    t.equal(code, 0, runner.output());
    // --json prints the outcome as the one top-level JSON object; progress lines go to stderr.
    const outcome = JSON.parse(/^\{\n[\s\S]*?\n\}$/m.exec(runner.output())?.[0] ?? "null") as { result: string; runDir: string; website: string; prometheus: string };
    t.equal(outcome.result, "passed");
    t.equal(outcome.website, website);
    t.equal(outcome.prometheus, prometheus);
    t.equal(await containerCount(docker, namespace), 0, "agents torn down");

    const runDir = outcome.runDir;
    t.ok(runDir.startsWith(join(runsDir, namespace)), "the run directory is runs/<namespace>/<run-id>");
    const files = await readdir(runDir);
    for (const name of ["config.json", "inventory.json", "known_hosts", "result.json", "metrics.prom", "logs", "prometheus", "prometheus-snapshot"]) t.ok(files.includes(name), `${name} in the run directory`);
    t.match(JSON.parse(await readFile(join(runDir, "result.json"), "utf8")), { status: "passed" });
    t.match(await readFile(join(runDir, "metrics.prom"), "utf8"), /test_value\{source="loop"\} \d+/);
    t.match(await readFile(join(runDir, "logs", "scenario-log.log"), "utf8"), /observed scenario done/);
    t.match(await readFile(join(runDir, "config.json"), "utf8"), /"monitoring": true/);
    t.ok((await stat(join(runDir, "logs", "agent-001-node-exporter.log"))).size > 0, "node exporter output is kept");

    await t.test("prometheus import serves the snapshot again", async (t) => {
      const importer = startCli(["prometheus", "import", runDir, "--port", String(importPort)], {});
      t.teardown(() => {
        if (importer.exitCode === null) importer.kill("SIGKILL");
      });
      await waitForOutput(importer, /serving the snapshot/, "the import to serve", 60_000);
      t.match(importer.output(), new RegExp(`prometheus http://127\\.0\\.0\\.1:${importPort}  \\(user fieldtest, password in \\S+\\)  \\(the run recorded `));
      const recorded = await samples(`http://127.0.0.1:${importPort}`, await announcedAuth(importer.output()), 'max_over_time(test_value{source="loop"}[1h])');
      t.ok(Number(recorded[0]!.value[1]) > 0, `the imported run's test_value reached ${recorded[0]!.value[1]}`);
      importer.kill("SIGINT");
      const [importCode] = await once(importer, "exit");
      t.equal(importCode, 0, "Ctrl+C ends serving normally");
    });
  });
}
