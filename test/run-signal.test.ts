// The run's signal reaches fieldtest's own calls (issue 22 item 7): execs, waits and faults in
// flight when a run is stopped reject at once with an error naming what was cut, and a run also
// stops on its deadline and on a check found invalid while it runs, failing with that reason.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import type { LogLine } from "../src/runtime/daemon.ts";
import { containerCount, requireDocker } from "./helpers/fleet.ts";
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
}
