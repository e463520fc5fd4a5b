import t from "tap";
import { Ring } from "../src/observe/ring.ts";
import { Listeners } from "../src/observe/listeners.ts";
import { LogRings, MIN_LINES_PER_STREAM, type LogLine } from "../src/observe/log-rings.ts";
import { RunState, type RunEvent } from "../src/observe/run-state.ts";
import { WebsiteView } from "../src/observe/website-view.ts";
import { testInventory } from "./fixtures/inventory.ts";

const options = () => ({ inventory: testInventory(3), scenario: "health", clientKeyPath: "/keys/id ed25519", knownHostsPath: "/keys/known_hosts" });

t.test("Ring keeps the newest entries, oldest first", async (t) => {
  const ring = new Ring<number>(3);
  t.same(ring.toArray(), []);
  for (let i = 1; i <= 5; i++) ring.push(i);
  t.same(ring.toArray(), [3, 4, 5]);
  ring.replaceLast(50);
  t.same(ring.toArray(), [3, 4, 50]);
  t.same(ring.newest(2), [4, 50], "the newest entries, across the wrap");
  t.same(ring.newest(9), [3, 4, 50]);
  t.same(ring.newest(0), []);
  const partial = new Ring<number>(4);
  partial.push(1);
  partial.push(2);
  t.same(partial.newest(1), [2], "before the ring is full");
  t.throws(() => new Ring(0), /positive integer/);
  t.throws(() => new Ring<number>(2).replaceLast(1), /empty/);
});

t.test("phase, result, services and inventory changes are emitted", async (t) => {
  const state = new RunState(options());
  const events: RunEvent[] = [];
  const unsubscribe = state.subscribe((e) => events.push(e));
  state.setPhase("deploy");
  state.addService("web", "http://127.0.0.1:8000/");
  state.fail(new Error("agent-2 unreachable"));
  state.setInventory(testInventory(2));
  unsubscribe();
  state.pass();
  t.same(
    events.map((e) => e.type),
    ["phase", "service", "result", "inventory"],
  );
  t.equal(state.phase, "deploy");
  t.same(state.result, { status: "passed" });
  t.equal(state.inventory.agents.length, 2);
  t.throws(() => state.addService("web", "not a url"), /addService\("web"\): url "not a url" is not an absolute URL/);
  t.throws(() => state.addService("", "http://x/"), /name must be a non-empty string/);
});

t.test("appendLog hands each line to the subscribers, stamped and without its newline", async (t) => {
  const state = new RunState(options());
  const lines: LogLine[] = [];
  state.subscribe((event) => event.type === "log" && lines.push(event.log));
  state.appendLog("agent-1", "server", "listening\r\n");
  state.appendLog("agent-1", "server", "a\nb");
  t.match(lines, [
    { agent: "agent-1", daemon: "server", line: "listening", time: /^\d{4}-\d\d-\d\dT[\d:.]+Z$/ },
    { line: "a\nb" },
  ]);
});

/** The website's copy of a run, fed the way the runner's thread feeds it (one burst per line here). */
function viewOf(state: RunState, linesPerStream: number): WebsiteView {
  const view = new WebsiteView(state.snapshot(), linesPerStream);
  state.subscribe((event) => {
    if (event.type === "log") view.appendBursts([{ agent: event.log.agent, daemon: event.log.daemon, time: event.log.time, lines: [event.log.line] }]);
  });
  return view;
}

t.test("the website's log rings are bounded per agent+daemon", async (t) => {
  const state = new RunState(options());
  const view = viewOf(state, 5);
  for (let i = 0; i < 12; i++) state.appendLog("agent-1", "server", `line ${i}\n`);
  state.appendLog("agent-1", "client", "hello");
  state.appendLog("agent-2", "server", "other");
  const server = view.logs({ agent: "agent-1", daemon: "server" });
  t.same(
    server.map((l) => l.line),
    ["line 7", "line 8", "line 9", "line 10", "line 11"],
  );
  t.equal(view.logs({ agent: "agent-1" }).length, 6);
  t.equal(view.logs({ daemon: "server" }).length, 6);
  t.equal(view.logs().length, 7);
  t.same(view.snapshot().logStreams, [
    { agent: "agent-1", daemon: "server", lines: 5 },
    { agent: "agent-1", daemon: "client", lines: 1 },
    { agent: "agent-2", daemon: "server", lines: 1 },
  ]);
});

t.test("recent logs share a bound evenly among the streams, each keeping its newest", async (t) => {
  const rings = new LogRings(200);
  const time = new Date().toISOString();
  for (let agent = 0; agent < 50; agent++) for (let i = 0; i < 200; i++) rings.push({ time, agent: `agent-${agent}`, daemon: "server", line: `line ${i}` });
  rings.push({ time, agent: "agent-0", daemon: "quiet", line: "started" });
  const recent = rings.recent(1000);
  t.ok(recent.length <= 1000, `${recent.length} lines, of ${rings.logs().length} held`);
  t.equal(new Set(recent.map((l) => `${l.agent}/${l.daemon}`)).size, 51, "every stream is there, the quiet one too");
  t.same(
    recent.filter((l) => l.agent === "agent-7").map((l) => l.line),
    Array.from({ length: 19 }, (_, i) => `line ${181 + i}`),
    "a stream's newest lines (1,000 / 51 streams = 19), oldest first",
  );
  t.equal(rings.recent(10).length, 51, "past the bound, the newest line of each stream");
  t.equal(rings.recent(1_000_000).length, rings.logs().length, "under the bound, all of them");
});

t.test("the rings share a total: past it each stream keeps its share, never under the minimum", async (t) => {
  const rings = new LogRings(200, 10_000);
  const time = new Date().toISOString();
  const fill = (agents: number, lines: number) => {
    for (let agent = 0; agent < agents; agent++) for (let i = 0; i < lines; i++) rings.push({ time, agent: `agent-${agent}`, daemon: "server", line: `line ${i}` });
  };
  fill(50, 300);
  t.equal(rings.perStream, 200, "50 streams fit: 200 lines each");
  t.equal(rings.logs().length, 50 * 200);
  fill(1000, 1);
  t.equal(rings.perStream, 10_000 / 1000 > MIN_LINES_PER_STREAM ? 10 : MIN_LINES_PER_STREAM, "1,000 streams: the minimum each");
  const held = rings.logs().length;
  t.ok(held <= (4 / 3) * 1000 * rings.perStream + 1000, `${held} lines held by 1,000 streams, the early ones cut too though they did not speak again`);
  t.same(
    rings.logs({ agent: "agent-7" }).map((l) => l.line).slice(-2),
    ["line 299", "line 0"],
    "a cut stream keeps its newest lines, in order",
  );
  t.equal(new LogRings(200).perStream, 200, "without a total, 200 a stream however many");
});

t.test("listeners: an emit reaches those subscribed when it began, a removed one no more", async (t) => {
  const listeners = new Listeners<number>();
  const seen: string[] = [];
  let removeSecond = () => {};
  const removeFirst = listeners.add((n) => {
    seen.push(`first ${n}`);
    removeSecond();
  });
  removeSecond = listeners.add((n) => seen.push(`second ${n}`));
  listeners.emit(1);
  listeners.emit(2);
  removeFirst();
  removeFirst();
  listeners.emit(3);
  t.same(seen, ["first 1", "second 1", "first 2"], "the second still hears the emit during which it was removed, as with EventEmitter");
});

t.test("snapshot: TTL, agents, debug commands, alerts", async (t) => {
  const state = new RunState(options());
  const expiresAt = Date.parse(state.inventory.expiresAt);
  const snap = state.snapshot(new Date(expiresAt - 90_000));
  t.equal(snap.ttlRemainingSeconds, 90);
  t.equal(snap.scenario, "health");
  t.equal(snap.phase, "starting");
  t.same(snap.result, { status: "running" });
  t.equal(snap.agents.length, 3);
  t.equal(snap.agents[0]!.image, "fieldtest-agent:latest");
  t.notOk("image" in snap.agents[1]!);
  t.equal(snap.agents[1]!.ssh, "ssh -i '/keys/id ed25519' -o UserKnownHostsFile=/keys/known_hosts -p 30001 fieldtest@127.0.0.1");

  state.addAlert({ name: "AgentDown", expr: "up == 0", for: "30s", severity: "critical", summary: "an agent stopped answering" });
  t.same(state.snapshot().alertRules, [{ name: "AgentDown", expr: "up == 0", for: "30s", severity: "critical", summary: "an agent stopped answering" }]);
  t.throws(() => state.addAlert({ name: "Bad", expr: "up", for: "soon" }), /alert "Bad": for must be a Prometheus duration/);

  let alertEvents = 0;
  state.subscribe((e) => e.type === "alerts" && alertEvents++);
  const active = [{ name: "AgentDown", state: "firing" as const, labels: { alertname: "AgentDown" }, annotations: {}, activeAt: "2025-01-01T00:00:00Z", value: "0" }];
  state.setActiveAlerts(active);
  state.setActiveAlerts(structuredClone(active));
  t.equal(alertEvents, 1, "an unchanged alert list is not re-announced");
  t.same(state.snapshot().activeAlerts, active);
});
