// A run through the RunSession API, without the CLI: a spec in, an outcome out, and the run's
// end recorded whatever the scenario leaves behind (issue 22: stray operations, true phases).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { LogLine } from "../src/runtime/daemon.ts";
import type { RunContext } from "../src/runs/context.ts";
import { RunSession } from "../src/runs/session.ts";
import { parseRunSpec, type RunSpecInput } from "../src/runs/spec.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const docker = await requireDocker(t);

if (docker) {
  /** A scenario file whose run is `body`, and a spec that runs it on a fleet made for the run. */
  async function session(t: Test, name: string, body: string, progress: string[], lines: LogLine[] = [], limits: RunSpecInput["limits"] = {}) {
    const home = await tempHome(t);
    const namespace = uniqueNamespace(name);
    cleanupNamespace(t, docker!, namespace);
    const scenario = join(home, `${name}.mts`);
    await writeFile(scenario, `import { defineScenario } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};\nexport default defineScenario({ name: ${JSON.stringify(name)}, async run(cloud) {\n${body}\n} });\n`);
    const context: RunContext = {
      env: { ...process.env, FIELDTEST_HOME: home },
      cwd: home,
      packageRoot: ROOT,
      docker: () => docker!,
      stderr: { write: () => true } as unknown as NodeJS.WritableStream,
      progress: { step: (message) => void progress.push(message) },
      log: (line) => void lines.push(line),
    };
    const spec: RunSpecInput = {
      scenario,
      fleet: { kind: "localhost", namespace, ttlSeconds: 600, portsPerAgent: 10, owner: "test", overrides: { vms: 1 }, limits: { maxVms: 2 } },
      teardown: "destroy",
      observation: { runsDir: join(home, "runs") },
      limits,
    };
    return { namespace, run: new RunSession(context, parseRunSpec(spec)) };
  }

  t.test("a scenario runs through RunSession: outcome, run directory and teardown, no CLI involved", async (t) => {
    const progress: string[] = [];
    const lines: LogLine[] = [];
    const { namespace, run } = await session(t, "api", `cloud.log("hello from " + cloud.agents[0].name);`, progress, lines);
    const outcome = await run.run();
    t.equal(outcome.result, "passed", progress.join("\n"));
    t.same(outcome.agents, ["agent-001"]);
    t.ok(lines.some((l) => l.line === "hello from agent-001"), "the scenario's log reached the context's sink");
    const result = JSON.parse(await readFile(join(outcome.runDir!, "result.json"), "utf8")) as { status: string };
    t.equal(result.status, "passed");
    t.equal(await containerCount(docker, namespace), 0, "the fleet made for the run is gone");
  });

  t.test("a stray exec loop does not crash the runner: the scenario's error is the result, recorded, and the fleet is torn down", async (t) => {
    const progress: string[] = [];
    const { namespace, run } = await session(
      t,
      "stray",
      `const agent = cloud.agents[0];
void (async () => { for (;;) await agent.exec("sleep 0.05"); })();
await new Promise((resolve) => setTimeout(resolve, 500));
throw new Error("x");`,
      progress,
    );
    const outcome = await run.run();
    t.equal(outcome.result, "failed");
    t.equal(outcome.error, "x", "the scenario's own error, not the stray exec's");
    const result = JSON.parse(await readFile(join(outcome.runDir!, "result.json"), "utf8")) as { status: string; error: string; phase: string };
    t.match(result, { status: "failed", error: "x", phase: "failed" });
    const status = JSON.parse(await readFile(join(outcome.runDir!, "status.json"), "utf8")) as { final: boolean; phase: string; result: string };
    t.match(status, { final: true, phase: "failed" }, "status.json is final and says the run failed, not running");
    t.equal(await containerCount(docker, namespace), 0, "the fleet made for the run is gone");
  });

  /** Resolves once a progress line matches. */
  async function untilProgress(progress: string[], pattern: RegExp): Promise<void> {
    const started = Date.now();
    while (!progress.some((p) => pattern.test(p))) {
      if (Date.now() - started > 120_000) throw new Error(`no progress line matched ${pattern}:\n${progress.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  t.test("keep-alive: the checkers answer when the scenario ends, a stop ends it with the run's result, and the phase is done after it", async (t) => {
    const progress: string[] = [];
    const { namespace, run } = await session(
      t,
      "kept",
      `cloud.history.check("register");
cloud.history.invoke({ process: 0, f: "write", key: "k", value: 1 }).ok();
cloud.history.invoke({ process: 1, f: "read", key: "k" }).ok(1);`,
      progress,
      [],
      { keepAlive: 120_000 },
    );
    const running = run.run();
    await untilProgress(progress, /keeping the agents alive/);
    const kept = progress.findIndex((p) => /keeping the agents alive/.test(p));
    const checked = progress.findIndex((p) => /checker register at the scenario's end: valid/.test(p));
    t.ok(checked >= 0 && checked < kept, `the verdict comes before the keep-alive:\n${progress.join("\n")}`);
    run.stop();
    const outcome = await running;
    t.equal(outcome.result, "passed", "a stop during the keep-alive keeps the run's result");
    t.equal(outcome.checks, true);
    const status = JSON.parse(await readFile(join(outcome.runDir!, "status.json"), "utf8")) as { final: boolean; phase: string };
    t.match(status, { final: true, phase: "done" }, "not keep-alive after the teardown");
    t.equal(await containerCount(docker, namespace), 0);
  });

  t.test("stop: cloud.signal aborts, the scenario returns within its grace, and the run is recorded as stopped", async (t) => {
    const progress: string[] = [];
    const lines: LogLine[] = [];
    const { namespace, run } = await session(
      t,
      "stop",
      `await new Promise((resolve) => cloud.signal.addEventListener("abort", resolve));
cloud.log("saw the stop: " + cloud.signal.reason.message);`,
      progress,
      lines,
    );
    const running = run.run();
    const started = Date.now();
    while (!progress.some((p) => p.startsWith("running scenario"))) {
      if (Date.now() - started > 120_000) throw new Error(`the scenario never started:\n${progress.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    run.stop();
    const outcome = await running;
    t.equal(outcome.result, "interrupted");
    t.match(outcome.error, /stopped \(stop-requested\)/);
    t.ok(lines.some((l) => l.line === "saw the stop: stopped: stop-requested"), "the scenario saw cloud.signal abort and returned");
    const status = JSON.parse(await readFile(join(outcome.runDir!, "status.json"), "utf8")) as { final: boolean; phase: string };
    t.match(status, { final: true, phase: "stopped" });
    t.equal(await containerCount(docker, namespace), 0);
  });
}
