import t from "tap";
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { isLoopbackHost, startWebsite } from "../src/observe/website.ts";
import { BINARIES, haveBinary } from "./fixtures/binaries.ts";
import { inCi } from "./helpers/ci.ts";
import { testInventory } from "./fixtures/inventory.ts";

const newRun = () => ({
  state: new RunState({ inventory: testInventory(3), scenario: "health", clientKeyPath: "/keys/id", knownHostsPath: "/keys/known_hosts" }),
  metrics: new MetricStore(),
});

/** A live-update stream as read so far; `waitFor` reads on until what arrived matches. */
function eventStream(response: Response): { received: string; waitFor(pattern: RegExp): Promise<void> } {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const stream = {
    received: "",
    async waitFor(pattern: RegExp) {
      while (!pattern.test(stream.received)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        stream.received += decoder.decode(value, { stream: true });
      }
    },
  };
  return stream;
}

t.test("routes serve the page, its assets, metrics and JSON", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0 });
  t.teardown(() => site.close());
  t.match(site.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const page = await fetch(`${site.url}/`);
  t.match(page.headers.get("content-type"), /text\/html/);
  t.match(await page.text(), /<script src="\/static\/uPlot\.iife\.min\.js"><\/script>/);
  for (const asset of ["/static/app.js", "/static/style.css", "/static/uPlot.iife.min.js", "/static/uPlot.min.css"]) {
    t.equal((await fetch(`${site.url}${asset}`)).status, 200, asset);
  }

  metrics.push("rtt_seconds", 0.5, { labels: { agent: "agent-1" }, help: "Round trip" });
  const exposition = await fetch(`${site.url}/metrics`);
  t.match(exposition.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  t.match(await exposition.text(), /rtt_seconds\{agent="agent-1"\} 0\.5/);

  state.setPhase("measure");
  state.addService("grafana", "http://127.0.0.1:3000/");
  const snapshot = await (await fetch(`${site.url}/api/state`)).json();
  t.match(snapshot, { scenario: "health", phase: "measure", result: { status: "running" }, services: [{ name: "grafana", url: "http://127.0.0.1:3000/" }] });
  t.equal(snapshot.agents.length, 3);
  t.ok(snapshot.ttlRemainingSeconds > 3500 && snapshot.ttlRemainingSeconds <= 3600);
  t.match(snapshot.agents[2].ssh, /^ssh -i \/keys\/id -o UserKnownHostsFile=\/keys\/known_hosts -p 30002 fieldtest@127\.0\.0\.1$/);

  const series = await (await fetch(`${site.url}/api/metrics/series?name=rtt_seconds`)).json();
  t.match(series, { version: 1, series: [{ name: "rtt_seconds", labels: { agent: "agent-1" }, v: [0.5] }] });
  t.equal((await fetch(`${site.url}/api/metrics/series?limit=0`)).status, 400);

  state.appendLog("agent-1", "server", "ready");
  state.appendLog("agent-2", "server", "ready too");
  t.match(await (await fetch(`${site.url}/api/logs?agent=agent-2`)).json(), { lines: [{ agent: "agent-2", daemon: "server", line: "ready too" }] });
});

t.test("/api/events streams state, logs and metric ticks", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 20 });
  t.teardown(() => site.close());
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const response = await fetch(`${site.url}/api/events`, { signal: abort.signal });
  t.match(response.headers.get("content-type"), /text\/event-stream/);
  const events = eventStream(response);
  await events.waitFor(/event: metrics\ndata: \{"version":0\}/);
  t.match(events.received, /^event: state\ndata: \{.*"phase":"starting"/);
  t.match(events.received, /event: logs-all\ndata: \[\]/);

  state.setPhase("deploy");
  state.appendLog("agent-3", "client", "dialing agent-1");
  metrics.push("ok_total", 1, { type: "counter" });
  await events.waitFor(/"phase":"deploy"/);
  await events.waitFor(/event: logs\ndata: \[\{.*"line":"dialing agent-1"/);
  await events.waitFor(/event: metrics\ndata: \{"version":1\}/);
  t.pass("state, log and metric updates arrived");
});

t.test("the website answers while the runner's thread is blocked", async (t) => {
  // A runner flooded by a thousand agents' output is busy for seconds at a time; here it is
  // blocked outright, by spawnSync: a website on the runner's own thread could not answer.
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0 });
  t.teardown(() => site.close());
  state.appendLog("agent-1", "server", "ready");
  await Promise.resolve();
  state.setPhase("busy");
  const read = `Promise.all(["state", "logs"].map((path) => fetch("${site.url}/api/" + path).then((r) => r.json()))).then(([s, l]) => console.log(JSON.stringify({ phase: s.phase, lines: l.lines.map((x) => x.line) })))`;
  const child = spawnSync(process.execPath, ["-e", read], { encoding: "utf8", timeout: 30_000 });
  t.equal(child.error, undefined, "the reader finished while this thread waited for it");
  t.same(JSON.parse(child.stdout || "{}"), { phase: "busy", lines: ["ready"] }, "with the state and lines sent before the block");
});

t.test("a website that falls behind is sent no lines until it catches up, and its pages start over", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 20, maxLinesInFlight: 100 });
  t.teardown(() => site.close());
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const response = await fetch(`${site.url}/api/events`, { signal: abort.signal });
  const events = eventStream(response);
  await events.waitFor(/event: metrics/);
  events.received = "";

  // One synchronous run: the website's thread takes nothing before it ends, so 100 are in flight.
  for (let i = 0; i < 500; i++) state.appendLog("agent-1", "flood", `line ${i}`);
  const held = (await (await fetch(`${site.url}/api/logs`)).json()).lines.map((l: { line: string }) => l.line);
  t.same(held, Array.from({ length: 100 }, (_, i) => `line ${i}`), "the first 100 reached it, the rest were left out");
  await events.waitFor(/event: logs-all\ndata: \[.*"line 99"/);
  t.pass("the page was told to start over from the recent lines");

  state.appendLog("agent-1", "flood", "after");
  t.match((await (await fetch(`${site.url}/api/logs`)).json()).lines.at(-1), { line: "after" }, "once caught up, lines flow again");
});

t.test("/metrics passes promtool check metrics", async (t) => {
  if (!haveBinary(t, "promtool")) return;
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0 });
  t.teardown(() => site.close());
  metrics.push("scenario_ping_rtt_seconds", 0.002, { labels: { agent: "agent-1", peer: "agent-2" }, help: "Ping round trip" });
  metrics.push("scenario_messages_total", 12, { type: "counter", labels: { agent: "agent-1" } });
  const text = await (await fetch(`${site.url}/metrics`)).text();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(BINARIES.promtool.path, ["check", "metrics"]);
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
  t.equal(code, 0, output);
});

t.test("a host other machines can reach needs auth", async (t) => {
  const { state, metrics } = newRun();
  t.ok(isLoopbackHost("127.0.0.1") && isLoopbackHost("::1") && isLoopbackHost("localhost") && isLoopbackHost("127.1.2.3"));
  t.notOk(isLoopbackHost("0.0.0.0") || isLoopbackHost("10.0.0.5") || isLoopbackHost("::"));
  await t.rejects(startWebsite({ state, metrics, host: "0.0.0.0", port: 0 }), /website host 0\.0\.0\.0 is reachable from other machines.*set auth/);
  await t.rejects(startWebsite({ state, metrics, port: 0, auth: { username: "u", password: "" } }), /auth\.username and auth\.password must both be non-empty/);
});

t.test("basic auth guards every route", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, auth: { username: "ops", password: "s3cret" } });
  t.teardown(() => site.close());
  const header = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` });
  for (const path of ["/", "/metrics", "/api/state", "/api/events"]) {
    const denied = await fetch(`${site.url}${path}`);
    t.equal(denied.status, 401, `${path} without credentials`);
    t.match(denied.headers.get("www-authenticate"), /Basic realm="fieldtest"/);
  }
  t.equal((await fetch(`${site.url}/api/state`, { headers: header("ops", "wrong") })).status, 401);
  t.equal((await fetch(`${site.url}/api/state`, { headers: header("nope", "s3cret") })).status, 401);
  t.equal((await fetch(`${site.url}/api/state`, { headers: header("ops", "s3cret") })).status, 200);
});

t.test("TLS with a certificate and key", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-tls-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  try {
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyPath, "-out", certPath,
    ]);
  } catch (error) {
    const message = `openssl could not make a test certificate (apt-get install openssl): ${(error as Error).message}`;
    if (inCi()) t.fail(message);
    else t.skip(message, () => {});
    return;
  }
  const { state, metrics } = newRun();
  await t.rejects(startWebsite({ state, metrics, port: 0, tls: { certPath: join(dir, "missing.pem"), keyPath } }), /website tls\.certPath .*missing\.pem cannot be read/);
  const site = await startWebsite({ state, metrics, port: 0, tls: { certPath, keyPath } });
  t.teardown(() => site.close());
  t.match(site.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = await readFile(certPath);
  const body = await new Promise<string>((resolve, reject) => {
    request(`${site.url}/api/state`, { ca }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(text));
    })
      .on("error", reject)
      .end();
  });
  t.match(JSON.parse(body), { scenario: "health" });
});
