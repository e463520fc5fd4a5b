// The helpers real services need, on a real agent: readiness waits that poll and time out
// saying what they waited for, daemons as other users with env and cwd, restarts recorded as
// events, and a scenario run in-process through runScenario.
import t from "tap";
import { runScenario } from "../src/scenario/run-scenario.ts";
import { Cloud } from "../src/runtime/cloud.ts";
import type { LogLine, RestartEvent } from "../src/runtime/daemon.ts";
import { Wait, WaitTimeoutError, type WaitStrategy } from "../src/runtime/wait/index.ts";
import { defineScenario } from "../src/scenario/scenario.ts";
import { z } from "zod";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1);
  const agent = fleet.cloud.agents[0]!;

  t.test("waitForPort and waitForHttp resolve once the daemon answers, and time out saying what they waited for", async (t) => {
    const port = agent.nextPort();
    await t.rejects(agent.waitForPort(port, { timeoutMs: 400 }), new WaitTimeoutError(`agent-001: waited 400 ms for a listener on 127.0.0.1:${port} (waitForPort); nothing accepted a connection`));
    await t.rejects(agent.waitForHttp(`http://127.0.0.1:${port}/ping`, { timeoutMs: 400 }), {
      name: "Error",
      message: new RegExp(`^agent-001: waited 400 ms for GET http://127\\.0\\.0\\.1:${port}/ping to answer with a 2xx status \\(waitForHttp\\); the last attempt failed: .*`),
    });
    t.type(await agent.waitForHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 1 }).catch((e) => e), WaitTimeoutError);

    await agent.exec("mkdir -p www && echo pong > www/ping");
    // Started only after the waits begin: they must see it come up, not find it already there.
    const waiting = Promise.all([agent.waitForPort(port, { timeoutMs: 10_000 }), agent.waitForHttp(`http://127.0.0.1:${port}/ping`, { timeoutMs: 10_000 })]);
    const httpd = await agent.spawn(`sleep 0.3; exec busybox httpd -f -p 127.0.0.1:${port} -h www`, { name: "httpd" });
    const [, status] = await waiting;
    t.equal(status, 200);
    await t.rejects(agent.waitForHttp(`http://127.0.0.1:${port}/missing`, { status: 200, timeoutMs: 500 }), {
      message: `agent-001: waited 500 ms for GET http://127.0.0.1:${port}/missing to answer with status 200 (waitForHttp); the last answer was status 404`,
    });
    t.equal(await agent.waitForHttp(`http://127.0.0.1:${port}/missing`, { status: 404, timeoutMs: 2000 }), 404);
    await httpd.stop({ graceMs: 500 });
  });

  t.test("waits are strategies: a log line, a command, composed under one deadline, and a scenario's own", async (t) => {
    await agent.exec("rm -f wait-strategies.log wait-strategies.flag");
    await t.rejects(agent.waitFor(Wait.forLogLine("wait-strategies.log", "ready to serve"), { timeoutMs: 400 }), {
      name: "Error",
      message: /^agent-001: waited 400 ms for a line matching \/ready to serve\/ in wait-strategies\.log \(waitFor\); the file could not be read: .*No such file/,
    });
    await t.rejects(agent.waitFor(Wait.forCommand("exit 3"), { timeoutMs: 400 }), new WaitTimeoutError("agent-001: waited 400 ms for exit 3 to exit 0 (waitFor); the last run exited 3"));
    // The first run exits 3, the next outlives the deadline and is killed: the timeout names the
    // run that ended, not the exec's own timeout.
    const cutShort = "if [ -e wait-strategies.cut ]; then sleep 30; else touch wait-strategies.cut; exit 3; fi";
    await agent.exec("rm -f wait-strategies.cut");
    await t.rejects(agent.waitFor(Wait.forCommand(cutShort), { timeoutMs: 1500 }), new WaitTimeoutError(`agent-001: waited 1500 ms for ${cutShort} to exit 0 (waitFor); the last run exited 3`));
    t.throws(() => Wait.forLogLine("x.log", ""), /the pattern is empty/);

    // Both conditions come true only after the wait began, the log line first: forAll must see each.
    const both = Wait.forAll(Wait.forLogLine("wait-strategies.log", "ready to serve"), Wait.forCommand(["test", "-e", "wait-strategies.flag"]));
    const waiting = agent.waitFor(both, { timeoutMs: 10_000 });
    const writer = await agent.spawn("sleep 0.3; echo starting >> wait-strategies.log; echo 'ready to serve' >> wait-strategies.log; sleep 0.3; touch wait-strategies.flag; sleep 30", { name: "wait-writer" });
    await waiting;
    t.equal((await agent.exec("cat wait-strategies.log")).stdout, "starting\nready to serve\n");
    // Long enough for at least one run of `false` on a loaded machine: the message names its last exit.
    await t.rejects(agent.waitFor(Wait.forAll(Wait.forCommand("true"), Wait.forCommand("false")), { timeoutMs: 3000 }), { message: /for false to exit 0 \(waitFor\); the last run exited 1$/ });
    await writer.stop({ graceMs: 500 });

    const own: WaitStrategy<string> = { description: "the agent's host name", waitUntilReady: async ({ target }) => (await target.exec("hostname")).stdout.trim() };
    t.equal(await agent.waitFor(own), (await agent.exec("hostname")).stdout.trim(), "a scenario's own strategy runs, and its value comes back");
  });

  t.test("spawn runs as another user (created once, even by parallel spawns), with env and cwd", async (t) => {
    await agent.exec("userdel -r fieldrunner 2>/dev/null; true");
    const lines: LogLine[] = [];
    const onLine = (line: LogLine) => lines.push(line);
    const command = 'echo "$(id -un) $(pwd) $GREETING $HOME"';
    const daemons = await Promise.all(
      ["one", "two"].map((name) => agent.spawn(["sh", "-c", command], { name, user: "fieldrunner", env: { GREETING: `hi-${name}` }, cwd: "/tmp", onLine })),
    );
    await Promise.all(daemons.map((daemon) => daemon.exited));
    t.same(lines.map((l) => `${l.daemon}: ${l.line}`).sort(), ["one: fieldrunner /tmp hi-one /home/fieldrunner", "two: fieldrunner /tmp hi-two /home/fieldrunner"]);
    await t.rejects(agent.spawn("true", { user: "Bad User" }), /user "Bad User" must be a unix user name/);
  });

  t.test("every restart of a daemon is an event, with its backoff, and so is giving up", async (t) => {
    const events: RestartEvent[] = [];
    const perSpawn: RestartEvent[] = [];
    const cloud = await Cloud.connect(fleet.inventory, { privateKey: (await fleet.state.clientKey()).privateKey, logSink: () => {}, restartEvents: (e) => events.push(e) });
    t.teardown(() => cloud.close());
    const daemon = await cloud.agents[0]!.spawn("echo up; exit 3", { name: "crashy", restart: "on-failure", maxRestarts: 2, backoff: { initialMs: 20, maxMs: 30 }, onRestart: (e) => perSpawn.push(e) });
    const exit = await daemon.exited;
    t.same(exit, { code: 3, signal: undefined });
    t.same(
      events.map(({ type, agent, daemon, restart, delayMs, lastExit }) => ({ type, agent, daemon, restart, delayMs, code: lastExit.code })),
      [
        { type: "restart", agent: "agent-001", daemon: "crashy", restart: 1, delayMs: 20, code: 3 },
        { type: "restart", agent: "agent-001", daemon: "crashy", restart: 2, delayMs: 30, code: 3 },
        { type: "gave-up", agent: "agent-001", daemon: "crashy", restart: 2, delayMs: 0, code: 3 },
      ],
    );
    t.same(perSpawn, events, "the spawn's own hook sees the same events");
    t.same(daemon.restartHistory(), events);
  });

  t.test("a line read with onLine also reaches the cloud's log sink, kept off the console", async (t) => {
    const logged: LogLine[] = [];
    const read: LogLine[] = [];
    const cloud = await Cloud.connect(fleet.inventory, { privateKey: (await fleet.state.clientKey()).privateKey, logSink: (line) => logged.push(line) });
    t.teardown(() => cloud.close());
    const daemon = await cloud.agents[0]!.spawn("echo out; echo err >&2", { name: "both-sinks", output: "errors", onLine: (line) => read.push(line) });
    await daemon.exited;
    const byStream = (lines: LogLine[]) => [...lines].sort((a, b) => a.stream.localeCompare(b.stream));
    t.strictSame(byStream(read), [
      { agent: "agent-001", daemon: "both-sinks", stream: "stderr", line: "err", output: "errors" },
      { agent: "agent-001", daemon: "both-sinks", stream: "stdout", line: "out", output: "errors" },
    ]);
    t.strictSame(byStream(logged), [
      { agent: "agent-001", daemon: "both-sinks", stream: "stderr", line: "err", output: "none" },
      { agent: "agent-001", daemon: "both-sinks", stream: "stdout", line: "out", output: "none" },
    ]);
  });

  t.test("runScenario runs a scenario in-process on an inventory, with its parameters checked", async (t) => {
    const seen: string[] = [];
    const scenario = defineScenario({
      name: "embedded",
      params: z.object({ greeting: z.string().default("hello") }),
      async run(cloud, p) {
        const [a] = cloud.group("agent");
        seen.push(`${p.greeting} from ${(await a!.exec("hostname")).stdout.trim() ? a!.name : "?"}`);
      },
    });
    const privateKey = (await fleet.state.clientKey()).privateKey;
    const run = await runScenario(scenario, { inventory: fleet.inventory, privateKey, params: { greeting: "hi" }, logSink: () => {} });
    t.same(seen, ["hi from agent-001"]);
    t.same(run.params, { greeting: "hi" });
    await t.rejects(runScenario(scenario, { inventory: fleet.inventory, privateKey, params: { greeting: 3 } }), /parameter greeting = 3: Invalid input: expected string, received number/);
    const failing = defineScenario({ name: "failing", run: () => Promise.reject(new Error("the invariant broke")) });
    await t.rejects(runScenario(failing, { inventory: fleet.inventory, privateKey, logSink: () => {} }), /the invariant broke/);
  });
}
