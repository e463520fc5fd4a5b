import type { LogSink } from "../runtime/daemon.ts";
import type { Progress } from "../core/progress.ts";

/** Progress lines on stderr with the time since the command started, so stdout stays parseable. */
export function stderrProgress(stderr: NodeJS.WritableStream, startedAt = Date.now()): Progress {
  return {
    step(message) {
      stderr.write(`fieldtest [${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
    },
  };
}

/** Daemon and scenario lines, prefixed with where they come from. */
export function prefixedLogSink(out: NodeJS.WritableStream): LogSink {
  return ({ agent, daemon, stream, line }) => {
    out.write(`[${agent}/${daemon}${stream === "stderr" ? "!" : ""}] ${line}\n`);
  };
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function writeJson(out: NodeJS.WritableStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}
