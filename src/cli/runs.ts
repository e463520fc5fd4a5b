import type { Command } from "commander";
import { CHECKERS } from "../runtime/checkers/names.ts";
import type { CliContext } from "./context.ts";
import type { LongRunFlags, RemoteFlags } from "./runs-actions.ts";

export type { LongRunFlags };

/** What the commands do, loaded by the one that runs (see runs-actions.ts). */
const actions = () => import("./runs-actions.ts");

/** The run options of long runs: `--detach`, `--daemon-output`, `--log-cap`, `--check-time-limit`. */
export function addLongRunOptions(command: Command): Command {
  return command
    .option("--detach", "start the run in the background and return once it runs; follow it with `fieldtest attach`")
    .option("--daemon-output <level>", "daemon lines on the console: all, errors or none (log files always get everything)", "all")
    .option("--log-cap <size>", "most disk one daemon's log takes, its rotation included, e.g. 100MB", "100MB")
    .option("--check-time-limit <seconds>", "time the linearizability checker may take before answering unknown", "10");
}

export function registerRunsCommands(program: Command, context: CliContext, setExitCode: (code: number) => void, exitNow: (code: number) => never): void {
  const remote = (command: Command) =>
    command
      .option("--namespace <name>", "the namespace (default: $FIELDTEST_NAMESPACE)")
      .option("--inventory <file>", "the fleet's inventory, when this machine did not make it")
      .option("--ssh-key <file>", "the namespace's private key (default: its key in the state directory)");

  remote(program.command("runs").summary("list runs: id, scenario, phase, started, agents, result"))
    .option("--runs-dir <dir>", "local runs directory (default: $FIELDTEST_RUNS_DIR or ./runs)")
    .option("--json", "print JSON")
    .action(async (flags: RemoteFlags) => {
      await (await actions()).listRuns(context, flags);
    });

  remote(program.command("attach").summary("follow a run's output and phase; Ctrl+D detaches, Ctrl+C stops the run"))
    .option("--run <id>", "which run (default: the namespace's running one)")
    .action(async (flags: RemoteFlags) => {
      await (await actions()).attachRun(context, flags, setExitCode, exitNow);
    });

  remote(program.command("stop").summary("end a run gracefully: scenario cleanup, dumps, teardown"))
    .option("--run <id>", "which run (default: the namespace's running one)")
    .option("--no-wait", "return once the stop is requested")
    .option("--runs-dir <dir>", "local runs directory, updated too when the runner is gone (default: $FIELDTEST_RUNS_DIR or ./runs)")
    .action(async (flags: RemoteFlags & { wait: boolean }) => {
      await (await actions()).stopRun(context, flags, setExitCode);
    });

  remote(program.command("fetch-run").summary("copy a run directory from the fleet (incremental)"))
    .option("--run <id>", "which run (default: the newest)")
    .option("--runs-dir <dir>", "where to put it: <dir>/<namespace>/<id> (default: $FIELDTEST_RUNS_DIR or ./runs)")
    .action(async (flags: RemoteFlags) => {
      await (await actions()).fetchRun(context, flags);
    });

  remote(program.command("website").summary("open a detached run's website here: loopback, through SSH to the fleet; Ctrl+C ends it"))
    .option("--run <id>", "which run (default: the namespace's running one)")
    .option("--port <port>", "the local port on 127.0.0.1 (default: any free one)")
    .action(async (flags: RemoteFlags & { port?: string }) => {
      await (await actions()).websiteOfRun(context, flags);
    });

  program
    .command("check")
    .summary("run the checkers over a run directory's history.jsonl")
    .argument("<run-dir>", "runs/<namespace>/<run-id>")
    .option("--checker <name>", `which checker (repeatable: ${CHECKERS.join(", ")}); default: those the scenario named`, (v: string, p: string[]) => [...p, v], [])
    .option("--time-limit <seconds>", "linearizability search budget before answering unknown", "10")
    .option("--json", "print the report as JSON")
    .action(async (dir: string, flags: { checker: string[]; timeLimit: string; json?: boolean }) => {
      await (await actions()).checkRunDir(context, dir, flags, setExitCode);
    });
}

