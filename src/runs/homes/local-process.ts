import { CLI_ENTRY } from "../../core/package-files.ts";
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import type { RunContext } from "../context.ts";
import { CONSOLE_FILE } from "../record.ts";
import { RUN_SPEC_FILE, writeRunSpec } from "../spec.ts";
import { absoluteSpec, checkSentFiles, localRunnerStatus, newLocalRunDir, specSeenBy, type DetachedRun, type RunnerHomeDriver } from "./runner-home.ts";

/**
 * The runner as a process of this machine: `fieldtest runner` on the staged spec, in a session
 * of its own (setsid), whose output goes to the run directory's console.log. It sees this
 * machine's files, so its spec keeps their paths (made absolute) and its fleet source.
 */
export function localProcessHome(context: RunContext): RunnerHomeDriver {
  return {
    where: "process of this machine",
    async stage(run: DetachedRun) {
      const spec = localProcessSpec(run, context.cwd);
      await checkSentFiles(spec, "process of this machine");
      const { dir } = await newLocalRunDir(spec.observation.runsDir, run.namespace, run.runId);
      const specPath = join(dir, RUN_SPEC_FILE);
      await writeRunSpec(specPath, spec);
      return {
        runId: run.runId,
        runDir: dir,
        specPath,
        close: () => {},
        async start() {
          const consolePath = join(dir, CONSOLE_FILE);
          const out = openSync(consolePath, "a");
          const child = spawn(process.execPath, [CLI_ENTRY, "runner", specPath], { cwd: context.cwd, env: context.env, detached: true, stdio: ["ignore", out, out] });
          closeSync(out);
          child.unref();
          let exited: number | null | undefined;
          child.once("exit", (code) => (exited = code));
          return {
            details: { pid: child.pid ?? 0 },
            describe: `detached run ${run.runId} (pid ${child.pid}), output in ${consolePath}`,
            status: () => localRunnerStatus(dir, async () => (exited === undefined ? undefined : `the detached run ended before it started (exit ${exited})`)),
            // Its session's process group: the runner and what it started.
            stop: async () => {
              if (exited !== undefined || !child.pid) return;
              try {
                process.kill(-child.pid, "SIGTERM");
              } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
              }
            },
            close: () => {},
          };
        },
      };
    },
  };
}

/** The spec of a runner on this machine: its own paths, absolute. */
export function localProcessSpec(run: DetachedRun, cwd: string) {
  const spec = absoluteSpec(run.spec, cwd, run.scenarioPath);
  return specSeenBy(spec, run.runId, { runsDir: spec.observation.runsDir });
}
