// A RunSession over a scenario written inline, on a one-agent fleet made for the run: how the
// tests of run endings (stop, signal, deadline) drive the API without the CLI.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import type { Test } from "tap";
import type { LogLine } from "../../src/runtime/daemon.ts";
import type { RunContext } from "../../src/runs/context.ts";
import { RunSession } from "../../src/runs/session.ts";
import { parseRunSpec, type RunSpecInput } from "../../src/runs/spec.ts";
import { cleanupNamespace, ROOT, tempHome, uniqueNamespace } from "./fleet.ts";

/** A scenario file whose run is `body`, and a session that runs it; progress and log lines land in the arrays given. */
export async function inlineSession(t: Test, docker: Docker, name: string, body: string, progress: string[], lines: LogLine[] = [], limits: RunSpecInput["limits"] = {}, teardown: RunSpecInput["teardown"] = "destroy") {
  const home = await tempHome(t);
  const namespace = uniqueNamespace(name);
  cleanupNamespace(t, docker, namespace);
  const scenario = join(home, `${name}.mts`);
  await writeFile(scenario, `import { defineScenario } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};\nexport default defineScenario({ name: ${JSON.stringify(name)}, async run(cloud) {\n${body}\n} });\n`);
  const context: RunContext = {
    env: { ...process.env, FIELDTEST_HOME: home },
    cwd: home,
    packageRoot: ROOT,
    docker: () => docker,
    stderr: { write: () => true } as unknown as NodeJS.WritableStream,
    progress: { step: (message) => void progress.push(message) },
    log: (line) => void lines.push(line),
  };
  const spec: RunSpecInput = {
    scenario,
    fleet: { kind: "localhost", namespace, ttlSeconds: 600, portsPerAgent: 10, owner: "test", overrides: { vms: 1 }, limits: { maxVms: 2 } },
    teardown,
    observation: { runsDir: join(home, "runs") },
    limits,
  };
  return { namespace, home, run: new RunSession(context, parseRunSpec(spec)) };
}

/** Resolves once a progress line (or log line) matches. */
export async function untilSeen(seen: () => readonly string[], pattern: RegExp): Promise<void> {
  const started = Date.now();
  while (!seen().some((p) => pattern.test(p))) {
    if (Date.now() - started > 120_000) throw new Error(`nothing matched ${pattern}:\n${seen().join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
