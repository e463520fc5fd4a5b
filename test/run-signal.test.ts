// The run's signal reaches fieldtest's own calls (issue 22 item 7): execs, waits and faults in
// flight when a run is stopped reject at once with an error naming what was cut, and a run also
// stops on its deadline and on a check found invalid while it runs, failing with that reason.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import type { Namespace } from "../src/core/namespace.ts";
import type { LogLine } from "../src/runtime/daemon.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { containerCount, requireDocker, runCli } from "./helpers/fleet.ts";
import { inlineSession, untilSeen } from "./helpers/run-session.ts";

const docker = await requireDocker(t);

if (docker) {
  t.test("stop cuts an exec and a wait in flight: the scenario returns within its grace, and what was cut is named", async (t) => {
    const progress: string[] = [];
    const lines: LogLine[] = [];
    const { namespace, run } = await inlineSession(
      t,
      docker,
      "cut",
      `const agent = cloud.agents[0];
try {
  await agent.waitForPort(9, { timeoutMs: 600_000, signal: AbortSignal.timeout(500) });
} catch (error) {
  cloud.log("own signal: " + error.message);
}
const waiting = agent.waitForPort(9, { timeoutMs: 600_000 }).catch((error) => cloud.log("wait: " + error.message));
const sleeping = agent.exec("sleep 600");
cloud.log("in flight");
await waiting;
await sleeping;`,
      progress,
      lines,
      // Far longer than the test may take: only a cut exec lets the scenario return within it.
      { stopGraceMs: 600_000 },
    );
    const logged = () => lines.map((l) => l.line);
    const running = run.run();
    await untilSeen(logged, /^in flight$/);
    run.stop();
    const outcome = await running;
    t.equal(outcome.result, "interrupted");
    t.equal(outcome.reason, "stop-requested");
    t.ok(logged().includes("own signal: agent-001: waitForPort for a listener on 127.0.0.1:9 was cut: The operation was aborted due to timeout"), `a wait's own signal cuts it:\n${logged().join("\n")}`);
    t.ok(logged().includes("wait: agent-001: waitForPort for a listener on 127.0.0.1:9 was cut: stopped: stop-requested"), "the run's signal cuts a wait");
    t.ok(logged().includes("the stopped scenario ended with: agent-001: `sleep 600` was cut: stopped: stop-requested"), "the run's signal cuts an exec, and the scenario's error is logged");
    t.equal(await containerCount(docker, namespace), 0);
  });

  t.test("a run past its deadline is stopped and fails with reason deadline", async (t) => {
    const progress: string[] = [];
    const lines: LogLine[] = [];
    const { namespace, run } = await inlineSession(t, docker, "deadline", `await cloud.agents[0].exec("sleep 600");`, progress, lines, { deadlineMs: 3000, stopGraceMs: 600_000 });
    const outcome = await run.run();
    t.equal(outcome.result, "failed", progress.join("\n"));
    t.equal(outcome.reason, "deadline");
    t.match(outcome.error, /^deadline: the scenario did not end within 3s/);
    t.ok(lines.some((l) => l.line === "the stopped scenario ended with: agent-001: `sleep 600` was cut: stopped: deadline"), "cloud.signal aborted on the deadline");
    const result = JSON.parse(await readFile(join(outcome.runDir!, "result.json"), "utf8")) as { status: string; error: string; phase: string };
    t.match(result, { status: "failed", error: /^deadline/, phase: "failed" });
    t.equal(await containerCount(docker, namespace), 0);
  });

  t.test("a check found invalid while the scenario runs stops the run, which fails with reason check-failed", async (t) => {
    const progress: string[] = [];
    const { namespace, run } = await inlineSession(
      t,
      docker,
      "checkfail",
      `cloud.history.check("register");
cloud.history.invoke({ process: 0, f: "write", key: "k", value: 1 }).ok();
cloud.history.invoke({ process: 1, f: "read", key: "k" }).ok(2);
await cloud.agents[0].exec("sleep 600");`,
      progress,
      [],
      { checkEveryMs: 1000, stopGraceMs: 600_000 },
    );
    const outcome = await run.run();
    t.equal(outcome.result, "failed", progress.join("\n"));
    t.equal(outcome.reason, "check-failed");
    t.ok(progress.some((p) => /^checker register .* found the history so far INVALID: stopping the run$/.test(p)), progress.join("\n"));
    t.equal(await containerCount(docker, namespace), 0);
  });

  t.test("teardown keep-running (--keep-daemons): the run's daemons outlive the runner, and destroy ends them with the agent", async (t) => {
    const progress: string[] = [];
    const lines: LogLine[] = [];
    const { namespace, home, run } = await inlineSession(
      t,
      docker,
      "kept",
      `const ticker = await cloud.agents[0].spawn("while :; do echo tick $TICK; sleep 0.2; done", { name: "ticker", env: { TICK: "from-env" } });
while (!ticker.recentLines().includes("tick from-env")) await new Promise((resolve) => setTimeout(resolve, 100));`,
      progress,
      lines,
      {},
      "keep-running",
    );
    const outcome = await run.run();
    t.equal(outcome.result, "passed", progress.join("\n"));
    t.ok(lines.some((l) => l.daemon === "ticker" && l.line === "tick from-env"), "the daemon's output still streams to the run, its environment given");
    const [container] = await namespaceContainers(docker, namespace as Namespace);
    t.ok(container, "the agent is kept");
    const inAgent = async (script: string) => {
      const exec = await docker.getContainer(container!.Id).exec({ Cmd: ["sh", "-c", script], AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({});
      const chunks: Buffer[] = [];
      await new Promise((resolve) => stream.on("data", (c: Buffer) => chunks.push(c)).on("end", resolve));
      return { code: (await exec.inspect()).ExitCode, output: Buffer.concat(chunks).toString("utf8") };
    };
    // After the runner closed its connection: the daemon is alive and still writing its log on the agent.
    const alive = await inAgent(`p=$(cat /run/fieldtest/daemons/ticker.*.pid) && kill -0 "$p" && f=$(echo /var/log/fieldtest/daemons/ticker.*.out) && a=$(wc -l < "$f") && sleep 1 && b=$(wc -l < "$f") && [ "$b" -gt "$a" ]`);
    t.equal(alive.code, 0, `the daemon runs on after the run: ${alive.output}`);
    const destroyed = await runCli(["destroy", "--namespace", namespace], { FIELDTEST_HOME: home });
    t.equal(destroyed.code, 0, destroyed.stderr);
    t.equal(await containerCount(docker, namespace), 0, "destroy ends the agent and its daemons");
  });
}
