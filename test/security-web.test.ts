// Issue 23, items 4 and 10, as a web page would attack them, in a real Chromium: a page of
// another loopback origin must not read the run's Prometheus, a page whose own name resolves to
// 127.0.0.1 (DNS rebinding) reads neither Prometheus nor the website, and a scenario cannot put a
// javascript: link on the run's website.
import { createServer } from "node:http";
import { join } from "node:path";
import t, { type Test } from "tap";
import { MetricStore } from "../src/observe/metrics.ts";
import { Observation } from "../src/observe/observation.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import { silentProgress } from "../src/core/progress.ts";
import { BINARIES, eventually, freePort, haveBinary, launchChromium, openPage } from "./fixtures/binaries.ts";
import { testInventory } from "./fixtures/inventory.ts";
import { tempHome } from "./helpers/fleet.ts";

t.setTimeout(120_000);

/** A page on its own loopback origin that tries to read `target` with fetch and shows what happened. */
async function evilOrigin(t: Test, target: string): Promise<string> {
  const html = `<!doctype html><pre id="out">pending</pre><script>
fetch(${JSON.stringify(target)}).then((r) => r.text()).then((text) => { out.textContent = "read: " + text.slice(0, 200); }, (e) => { out.textContent = "blocked: " + e; });
</script>`;
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const address = server.address();
  return `http://localhost:${typeof address === "object" && address ? address.port : 0}/`;
}

t.test("a page of another origin cannot read the run's Prometheus", async (t) => {
  if (!haveBinary(t, "prometheus") || !haveBinary(t, "chromium")) return;
  const home = await tempHome(t);
  const observation = await Observation.start({
    inventory: testInventory(1), scenario: "security", runsDir: join(home, "runs"), config: {}, clientKeyPath: "/k",
    website: { port: 0, auth: { username: "ops", password: "pw" } }, progress: silentProgress,
  });
  t.teardown(() => observation.finish({ status: "failed", error: "teardown" }).catch(() => {}));
  await observation.startPrometheus({ port: await freePort(), scrapeInterval: "1s", binary: BINARIES.prometheus.path }, []);
  const prometheus = observation.prometheus!;
  await eventually("Prometheus answering", async () => ((await prometheus.query("up")).length ? true : undefined));

  const { page } = await openPage(t, await evilOrigin(t, `${prometheus.url.replace(/\/$/, "")}/api/v1/query?query=up`));
  const out = page.locator("#out");
  await eventually("the page's fetch to settle", async () => ((await out.textContent()) === "pending" ? undefined : true));
  t.match(await out.textContent(), /^blocked:/, "the browser did not hand the metrics to the page");
});

t.test("a DNS-rebinding page reads neither Prometheus nor the website", async (t) => {
  if (!haveBinary(t, "prometheus") || !haveBinary(t, "chromium")) return;
  const home = await tempHome(t);
  const observation = await Observation.start({
    inventory: testInventory(1), scenario: "security", runsDir: join(home, "runs"), config: {}, clientKeyPath: "/k",
    website: { port: 0 }, progress: silentProgress,
  });
  t.teardown(() => observation.finish({ status: "failed", error: "teardown" }).catch(() => {}));
  await observation.startPrometheus({ port: await freePort(), scrapeInterval: "1s", binary: BINARIES.prometheus.path }, []);
  const prometheus = observation.prometheus!;
  await eventually("Prometheus scraping the website", async () => ((await prometheus.query('up{job="fieldtest"}'))[0]?.value[1] === "1" ? true : undefined));

  // The attacker's name now resolves to loopback: its pages are same-origin with whatever port they name.
  const browser = await launchChromium(t, ["--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1"]);
  const page = await browser.newPage();
  /** What a script of the rebound origin gets from `path` on `port`: the status and the start of the body. */
  const readAs = async (port: string, path: string) => {
    const url = `http://rebind.attacker.test:${port}${path}`;
    const answered = page.waitForResponse(url);
    // Chromium ends a navigation answered by a basic-auth challenge with an error; the answer is what counts.
    await page.goto(url).catch(() => {});
    const response = await answered;
    return { status: response.status(), body: (await response.text().catch(() => "")).slice(0, 500) };
  };
  const fromPrometheus = await readAs(new URL(prometheus.url).port, "/api/v1/query?query=up");
  t.equal(fromPrometheus.status, 401, "Prometheus asks for credentials");
  t.notMatch(fromPrometheus.body, /"status":"success"/, "and gives no metrics");
  const fromWebsite = await readAs(new URL(observation.website!.url).port, "/api/state");
  t.equal(fromWebsite.status, 421, "the website refuses a Host that is not its address");
});

t.test("addService takes http(s) URLs only: no javascript: link on the website", async (t) => {
  if (!haveBinary(t, "chromium")) return;
  const state = new RunState({ inventory: testInventory(1), scenario: "health", clientKeyPath: "/k", knownHostsPath: "/kh" });
  t.throws(() => state.addService("evil", "javascript:document.title='pwned'"), /must be http:\/\/ or https:\/\/, not javascript:/);
  t.throws(() => state.addService("data", "data:text/html,<script>alert(1)</script>"), /not data:/);
  state.addService("grafana", "https://127.0.0.1:3000/");
  const site = await startWebsite({ state, metrics: new MetricStore(), port: 0, pushIntervalMs: 100 });
  t.teardown(() => site.close());
  const { page } = await openPage(t, site.url);
  await page.locator("#services a").first().waitFor();
  t.same(await page.locator("#services a").evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).protocol)), ["https:"]);
});
