// The run's page in Chromium when the run ends: the final state and result, the checkers'
// verdicts and anomalies, healed faults shown healed, no "reconnecting" or fetch error once the
// runner is gone; fault_active drawn as a step; debug rows and log lines wrapped, not scrolled.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { HistoryWriter } from "../src/runtime/history/writer.ts";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import { haveBinary, openPage } from "./fixtures/binaries.ts";
import { testInventory } from "./fixtures/inventory.ts";

t.setTimeout(120_000);

const FAULT = { id: "f1a2b3c4", kind: "partition", targets: ["agent-1", "agent-2"], params: {}, mechanism: "iptables" };
const CHECKS = {
  valid: false,
  operations: 3,
  checkers: [{ checker: "counter", valid: false, summary: "1 of 1 read(s) outside what the adds allow", reads: 1, errors: [{ process: 1, read: 7, lower: 3, upper: 3 }] }],
};

t.test("an ended run's page: final state, result, checks, healed faults, and no error once the runner is gone", async (t) => {
  if (!haveBinary(t, "chromium")) return;
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-run-end-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const history = HistoryWriter.create(join(dir, "history.jsonl"));
  t.teardown(() => history.close());
  const state = new RunState({ inventory: testInventory(2), scenario: "bank", clientKeyPath: `/home/someone/${"very-long-directory-name/".repeat(8)}id_ed25519`, knownHostsPath: "/keys/known_hosts" });
  const metrics = new MetricStore({ resolutionMs: 50 });
  let checks: typeof CHECKS | null = null;
  state.setPhase("running");
  history.recordEvent("fault-start", { type: "fault-start", ...FAULT, at: new Date().toISOString(), deadline: new Date(Date.now() + 60_000).toISOString() });
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 100, history: { path: join(dir, "history.jsonl"), checks: () => checks } });
  state.appendLog("agent-1", "db", `a long line ${"x".repeat(400)} END-OF-LINE`);
  let closed = false;
  t.teardown(() => (closed ? undefined : site.close()));
  const { page, problems } = await openPage(t, site.url);
  await page.locator('#faults tr[data-fault="f1a2b3c4"]').filter({ hasText: "active, heals by" }).waitFor();
  await page.locator("#live").filter({ hasText: "live" }).waitFor();

  t.test("debug commands and log lines wrap instead of scrolling sideways", async (t) => {
    const overflow = (selector: string) => page.locator(selector).first().evaluate((node) => node.scrollWidth - node.clientWidth);
    await page.locator("#debug .cmd code").first().waitFor();
    t.equal(await overflow("#debug .cmd code"), 0, "no horizontal scrollbar on a debug command");
    await page.locator('pre[data-stream="agent-1/db"]').filter({ hasText: "END-OF-LINE" }).waitFor();
    t.equal(await overflow('pre[data-stream="agent-1/db"]'), 0, "a long log line wraps");
    t.ok(await page.locator('pre[data-stream="agent-1/db"]').filter({ hasText: "END-OF-LINE" }).isVisible(), "and is shown whole");
  });

  // The end, as Observation.finish does it: heal, result, checks, then the website closes.
  history.recordEvent("fault-stop", { type: "fault-stop", ...FAULT, at: new Date().toISOString(), by: "heal" });
  state.setPhase("done");
  state.pass();
  checks = CHECKS;
  state.fail(new Error("the history is not valid: see checks"));
  state.end();
  const closing = Date.now();
  await site.close();
  closed = true;
  t.ok(Date.now() - closing < 2900, "the website closed once the page had what it needed, before the linger ran out");

  await page.locator("#live").filter({ hasText: "run ended" }).waitFor();
  // Longer than the page's history poll (2 s) and its reconnect: a live page would show errors by now.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  t.equal(await page.locator("#live").textContent(), "run ended", "no reconnecting");
  t.equal(await page.locator("#phase").textContent(), "done");
  t.equal(await page.locator("#result").textContent(), "failed: the history is not valid: see checks", "the badge says the result the header's phase implies");
  const body = await page.locator("body").textContent();
  t.notMatch(body, /Failed to fetch|could not load/, "no fetch error");
  t.match(await page.locator('#faults tr[data-fault="f1a2b3c4"]').textContent(), /\(heal\)/, "the healed fault shows healed");
  t.notMatch(await page.locator("#faults").textContent(), /active, heals by/);
  t.match(await page.locator("#fault-count").textContent(), "0 active");
  const row = page.locator('#checks tr[data-checker="counter"]');
  t.match(await row.textContent(), /counter\s*INVALID\s*1 of 1 read\(s\) outside what the adds allow/, "each checker's verdict and summary");
  t.match(await row.locator("pre.anomalies").textContent(), /"errors"[\s\S]*"read": 7/, "and its anomalies");
  t.equal(await page.locator("#checks-verdict").textContent(), "INVALID");
  t.same(problems, [], "no script errors in the page");
});

t.test("fieldtest_fault_active is drawn as a step, not a ramp", async (t) => {
  if (!haveBinary(t, "chromium")) return;
  const state = new RunState({ inventory: testInventory(1), scenario: "faults", clientKeyPath: "/keys/id", knownHostsPath: "/keys/known_hosts" });
  const metrics = new MetricStore({ resolutionMs: 50 });
  metrics.push("fieldtest_fault_active", 1, { labels: { kind: "partition" } });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  metrics.push("fieldtest_fault_active", 0, { labels: { kind: "partition" } });
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 100 });
  t.teardown(() => site.close());
  const { page } = await openPage(t, site.url);
  const chart = page.locator('.chart[data-metric="fieldtest_fault_active"]');
  await chart.locator("canvas").waitFor();
  await page.waitForTimeout(300);
  // Halfway between the two samples, a ramp is at half height; a step is still at 1, at the top.
  const heights = await chart.evaluate((node) => {
    const canvas = node.querySelector("canvas") as HTMLCanvasElement;
    const over = node.querySelector(".u-over") as HTMLElement;
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    const box = over.getBoundingClientRect();
    const origin = canvas.getBoundingClientRect();
    const x = Math.round((box.left - origin.left + box.width / 2) * scale);
    const top = Math.round((box.top - origin.top) * scale);
    const height = Math.round(box.height * scale);
    const column = canvas.getContext("2d")!.getImageData(x, top, 1, height).data;
    const drawn: number[] = [];
    for (let y = 0; y < height; y++) {
      const [r, g, b] = [column[y * 4]!, column[y * 4 + 1]!, column[y * 4 + 2]!];
      // The first series' colour, #2f6fde.
      if (Math.abs(r - 0x2f) < 40 && Math.abs(g - 0x6f) < 40 && Math.abs(b - 0xde) < 40) drawn.push(y / height);
    }
    return drawn;
  });
  t.ok(heights.length > 0, "the line crosses the middle of the chart");
  t.ok(heights.every((h) => h < 0.25), `drawn near the top (value 1) only, at ${heights.map((h) => h.toFixed(2)).join(", ")} of the height`);
});
