import { request } from "node:http";
import { connect } from "node:net";
import t from "tap";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { hostHeaderName, startWebsite } from "../src/observe/website.ts";
import { testInventory } from "./fixtures/inventory.ts";

const newRun = () => ({
  state: new RunState({ inventory: testInventory(1), scenario: "health", clientKeyPath: "/keys/id", knownHostsPath: "/keys/known_hosts" }),
  metrics: new MetricStore(),
});

/** A GET with any Host header (fetch does not let a caller set Host). */
function getWithHost(url: string, path: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers: { ...headers, host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

t.test("a Host header naming another site is refused (DNS rebinding)", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, allowedHosts: ["runner.example.org"] });
  t.teardown(() => site.close());
  t.equal(await getWithHost(site.url, "/api/logs", "rebind.attacker.example"), 421, "rebind.attacker.example");
  t.equal(await getWithHost(site.url, "/api/logs", `rebind.attacker.example:${site.port}`), 421, "with a port too");
  t.equal(await getWithHost(site.url, "/api/events", "127.0.0.1.attacker.example"), 421, "a name that merely starts like an address");
  for (const host of [`127.0.0.1:${site.port}`, `localhost:${site.port}`, "LOCALHOST", `runner.example.org:${site.port}`]) {
    t.equal(await getWithHost(site.url, "/api/logs", host), 200, host);
  }
  t.equal(hostHeaderName("[::1]:8080"), "::1");
  t.equal(hostHeaderName("Example.ORG:80"), "example.org");
});

t.test("the Host check comes before basic auth: a rebinding page gets no login prompt", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, auth: { username: "ops", password: "s3cret" } });
  t.teardown(() => site.close());
  const authorization = `Basic ${Buffer.from("ops:s3cret").toString("base64")}`;
  t.equal(await getWithHost(site.url, "/api/state", "rebind.attacker.example", { authorization }), 421);
  t.equal(await getWithHost(site.url, "/api/state", `127.0.0.1:${site.port}`, { authorization }), 200);
});

t.test("a live-update client that stops reading is cut off, not buffered without bound", async (t) => {
  const { state, metrics } = newRun();
  const site = await startWebsite({ state, metrics, port: 0, pushIntervalMs: 10, eventStreamLimits: { stalledMs: 200, pendingLines: 50 } });
  t.teardown(() => site.close());
  const socket = connect(site.port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  socket.on("error", () => {});
  socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${site.port}\r\n\r\n`);
  socket.pause();
  const line = "x".repeat(10_000);
  const started = Date.now();
  while (site.droppedEventClients === 0 && Date.now() - started < 10_000) {
    for (let i = 0; i < 100; i++) state.appendLog("agent-1", "flood", line);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  t.equal(site.droppedEventClients, 1, "the stalled client was dropped");
});
