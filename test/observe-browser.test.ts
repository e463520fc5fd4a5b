import t from "tap";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import { haveBinary, openPage } from "./fixtures/binaries.ts";
import { testInventory } from "./fixtures/inventory.ts";

t.setTimeout(120_000);

t.test("the page shows agents, state, logs and live charts in Chromium", async (t) => {
  if (!haveBinary(t, "chromium")) return;
  const state = new RunState({ inventory: testInventory(3), scenario: "health", clientKeyPath: "/keys/id", knownHostsPath: "/keys/known_hosts" });
  // 50 ms chart resolution so consecutive pushes become separate points without waiting.
  const metrics = new MetricStore({ resolutionMs: 50 });
  for (const [i, agent] of ["agent-1", "agent-2", "agent-3"].entries()) {
    metrics.push("scenario_ping_rtt_seconds", 0.01 * (i + 1), { labels: { agent }, help: "Ping round trip" });
  }
  metrics.push("scenario_messages_total", 5, { type: "counter" });
  state.setPhase("measure");
  state.addService("prometheus", "http://127.0.0.1:9090/");
  state.addAlert({ name: "SlowPing", expr: "scenario_ping_rtt_seconds > 0.1", severity: "warning" });
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 100 });
  t.teardown(() => site.close());
  // A run starts its website before any daemon prints: it shows the lines from its start on.
  state.appendLog("agent-1", "pinger", "sent 5 pings to agent-2");

  const { page, problems } = await openPage(t, site.url);

  const agents = page.locator("#agents tbody tr");
  await agents.nth(2).waitFor();
  t.same(await agents.locator("td:first-child").allTextContents(), ["agent-1", "agent-2", "agent-3"]);
  t.match(await agents.nth(0).textContent(), /fieldtest@127\.0\.0\.1.*30000.*31000–31099.*fieldtest-agent:latest.*\d+m/);
  t.match(await page.locator("#ttl").textContent(), /^(59m\d+s|1h)$/);
  t.equal(await page.locator("#phase").textContent(), "measure");
  t.match(await page.locator("#debug").textContent(), /ssh -i \/keys\/id -o UserKnownHostsFile=\/keys\/known_hosts -p 30001 fieldtest@127\.0\.0\.1/);
  t.match(await page.locator("#services").textContent(), /prometheus/);
  t.match(await page.locator("#alerts").textContent(), /SlowPing.*warning.*inactive/);
  await page.locator('pre[data-stream="agent-1/pinger"]').filter({ hasText: "sent 5 pings" }).waitFor();

  // A push redraws the chart without a reload.
  const chart = page.locator('.chart[data-metric="scenario_ping_rtt_seconds"]');
  await chart.locator("canvas").waitFor();
  const pixels = () => chart.locator("canvas").evaluate((canvas: HTMLCanvasElement) => canvas.toDataURL());
  const before = await pixels();
  for (let i = 0; i < 6; i++) {
    metrics.push("scenario_ping_rtt_seconds", 0.02 + 0.01 * i, { labels: { agent: "agent-1" } });
    await new Promise((r) => setTimeout(r, 60));
  }
  metrics.push("scenario_ping_rtt_seconds", 0.125, { labels: { agent: "agent-1" } });
  await chart.locator("p").filter({ hasText: "agent=agent-1: 0.125" }).waitFor();
  t.not(await pixels(), before, "the chart's canvas changed after push");

  // Live state and logs, still without a reload.
  state.appendLog("agent-2", "pinger", "agent-3 answered in 12 ms");
  state.fail(new Error("agent-3 lost 2 pings"));
  await page.locator("#result").filter({ hasText: "failed: agent-3 lost 2 pings" }).waitFor();
  await page.locator('pre[data-stream="agent-2/pinger"]').filter({ hasText: "answered in 12 ms" }).waitFor();
  t.equal(await page.locator("#live").textContent(), "live");

  const artifacts = join(process.cwd(), ".tap", "artifacts");
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "observe-website.png"), fullPage: true });
  t.same(problems, [], "no script errors in the page");
});
