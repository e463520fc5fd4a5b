/**
 * fieldtest side by side with OpenSSH and raw Docker, each figure a ratio against a baseline
 * measured in the same run (interleaved where practical), on real containers.
 *
 *   npm run bench                        human-readable table on stdout, progress on stderr
 *   npm run bench -- --json              one JSON object per measure row, in an array
 *   npm run bench -- --smoke             tiny counts (2 agents, 20 calls, 5 MB), well under a minute
 *   npm run bench -- --only exec,copy    some measures: exec fanout copy logs memory history broadcast bringup teardown faults startup scale
 *
 * Everything made (containers by the bench's own namespace labels, ControlMasters, temp files)
 * is removed at the end, on failure, and on Ctrl+C; a second Ctrl+C exits at once and the
 * containers' TTL removes them.
 */
import { cpus, release, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { renderTable, stderrProgress } from "../src/cli/output.ts";
import { INTERRUPTED_EXIT_CODE } from "../src/cli/interrupt.ts";
import { BenchContext, FULL, SMOKE, type Measure, type MeasureResult } from "./lib/context.ts";
import { MeasureCutOff } from "./lib/measure-time.ts";
import type { Stats } from "./lib/stats.ts";
import { bringup } from "./measures/bringup.ts";
import { broadcast } from "./measures/broadcast.ts";
import { copy } from "./measures/copy.ts";
import { exec } from "./measures/exec.ts";
import { fanout } from "./measures/fanout.ts";
import { faults } from "./measures/faults.ts";
import { history } from "./measures/history.ts";
import { logs } from "./measures/logs.ts";
import { memory } from "./measures/memory.ts";
import { scale } from "./measures/scale.ts";
import { startup } from "./measures/startup.ts";
import { teardown } from "./measures/teardown.ts";

// The measures on the shared fleet come first; it is removed before bring-up and teardown.
const MEASURES: readonly Measure[] = [exec, fanout, copy, logs, memory, history, broadcast, bringup, teardown, faults, startup, scale];
const ON_SHARED_FLEET = new Set(["exec", "fanout", "copy", "logs", "memory"]);

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
  },
});

const wanted = new Set((values.only ?? []).flatMap((v) => v.split(",")).filter(Boolean));
const unknown = [...wanted].filter((id) => !MEASURES.some((m) => m.id === id));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown measure ${unknown.join(", ")}; measures are ${MEASURES.map((m) => m.id).join(", ")}\n`);
  process.exit(2);
}
const selected = MEASURES.filter((m) => wanted.size === 0 || wanted.has(m.id));

const progress = stderrProgress(process.stderr);
const stepWithPrefix = { step: (message: string) => progress.step(`bench: ${message}`) };
const context = await BenchContext.create(values.smoke ? SMOKE : FULL, stepWithPrefix);

// `npm run` and tsx relay the terminal's Ctrl+C, so one keypress can arrive twice at once:
// only a signal a moment after the first counts as a second Ctrl+C.
const SECOND_INTERRUPT_AFTER_MS = 1000;
let interruptedAt: number | undefined;
const onSignal = () => {
  if (interruptedAt !== undefined) {
    if (Date.now() - interruptedAt < SECOND_INTERRUPT_AFTER_MS) return;
    process.stderr.write("bench: second interrupt, exiting now; the bench's agents expire with their TTL\n");
    context.removeTempFilesNow();
    process.exit(INTERRUPTED_EXIT_CODE);
  }
  interruptedAt = Date.now();
  process.stderr.write("bench: interrupted, cleaning up (Ctrl+C again to exit at once)\n");
  context.abort();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const results: MeasureResult[] = [];
let failure: unknown;
try {
  for (const measure of selected) {
    if (!ON_SHARED_FLEET.has(measure.id)) await context.releaseSharedFleet();
    stepWithPrefix.step(measure.title);
    results.push(...(await measure.run(context)));
  }
} catch (error) {
  failure = error;
  if (error instanceof MeasureCutOff) results.push(...error.rows);
} finally {
  stepWithPrefix.step("cleaning up");
  await context.cleanup();
}
if (interruptedAt !== undefined) process.exit(INTERRUPTED_EXIT_CODE);
if (failure) process.stderr.write(`bench: failed: ${(failure as Error).stack ?? failure}\n`);
// The rows measured before a failure are reported all the same, and the exit status says it failed.
if (failure && results.length === 0) process.exit(1);

if (values.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const docker = await context.docker.version().then((v) => v.Version, () => "?");
  process.stdout.write(
    `fieldtest bench${values.smoke ? " (smoke)" : ""}, ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? "?"}), ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Docker ${docker}, Node ${process.versions.node}\n` +
      "median over rounds [lowest–highest round]; ratio = fieldtest / baseline\n\n",
  );
  process.stdout.write(table(results));
  const notes = results.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`);
  if (notes.length > 0) process.stdout.write(`\n${notes.join("\n")}\n`);
}
if (failure) process.exitCode = 1;

function number(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === "lines/s") return Math.round(value).toLocaleString("en");
  const abs = Math.abs(value);
  return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

function figure(stats: Stats, unit: string): string {
  return `${number(stats.median, unit)} ${unit} [${number(stats.min, unit)}–${number(stats.max, unit)}]`;
}

function table(rows: readonly MeasureResult[]): string {
  return renderTable(
    ["MEASURE", "FIELDTEST", "BASELINE", "", "RATIO", "GOAL", "MET"],
    rows.map((r) => [
      r.name,
      figure(r.fieldtest, r.unit),
      figure(r.baseline, r.unit),
      r.baselineName,
      `${r.ratio.toFixed(2)}×`,
      r.goal ?? "—",
      r.met === null ? "—" : r.met ? "yes" : "NO",
    ]),
  );
}
