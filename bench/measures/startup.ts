import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { ROOT, type Measure } from "../lib/context.ts";
import { row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const run = promisify(execFile);

/** The command a user runs: the compiled package (`npm run build` makes it). */
const CLI = join(ROOT, "build", "bin", "fieldtest.js");

/**
 * How long the compiled `fieldtest` takes to answer, against a bare `node -e 0` started in the
 * same rounds, alternating: `--help`, and `list` on an empty state directory (which asks this
 * machine's Docker engine for localhost namespaces).
 */
export const startup: Measure = {
  id: "startup",
  title: "start-up of the compiled CLI",
  async run(context) {
    if (!(await access(CLI).then(() => true, () => false))) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const rounds = context.sizes.startupRounds;
    const env = { ...process.env, FIELDTEST_HOME: join(context.dir, "startup-home") };
    const timed = async (args: string[]): Promise<number> => {
      const started = performance.now();
      await run(process.execPath, args, { env, cwd: context.dir });
      return (performance.now() - started) / 1000;
    };
    const commands = [
      { name: "`fieldtest --help`", args: [CLI, "--help"], goal: 5 },
      { name: "`fieldtest list`, empty state", args: [CLI, "list"], goal: 8 },
    ];
    const node: number[] = [];
    const times = commands.map(() => [] as number[]);
    for (let round = 0; round < rounds; round++) {
      context.signal.throwIfAborted();
      context.progress.step(`startup: round ${round + 1}/${rounds}`);
      node.push(await timed(["-e", "0"]));
      for (const [index, command] of commands.entries()) times[index]!.push(await timed(command.args));
    }
    const baseline = overRounds(node);
    return commands.map((command, index) => {
      const fieldtest = overRounds(times[index]!);
      return row({
        measure: "startup",
        name: command.name,
        unit: "s",
        better: "lower",
        fieldtest,
        baselineName: "`node -e 0`",
        baseline,
        goal: `≤ ${command.goal}× node -e 0`,
        met: fieldtest.median / baseline.median <= command.goal,
      });
    });
  },
};
