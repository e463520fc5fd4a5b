import type { DaemonOutput, LogSink } from "../runtime/daemon.ts";

export const DAEMON_OUTPUTS: readonly DaemonOutput[] = ["all", "errors", "none"];

/**
 * Lines that count as errors for `--daemon-output errors`: a level word as loggers print it
 * (`ERROR`, `level=error`, `"level":"fatal"`, `panic:`), and fieldtest's own notices about a
 * daemon (restarts, failed restarts). Where a line is the stderr stream says little: many
 * daemons (etcd among them) log everything there.
 */
const ERROR_LINE = /\b(error|err|fatal|panic|critical|crit|emerg|alert)\b|^fieldtest: /i;

/**
 * The console's share of the log: the scenario's own `cloud.log` lines always, daemon lines
 * by the daemon's `output` option, else the run's `--daemon-output` level.
 */
export function consoleSink(level: DaemonOutput, next: LogSink): LogSink {
  return (line) => {
    if (line.agent === "scenario") return next(line);
    const chosen = line.output ?? level;
    if (chosen === "all" || (chosen === "errors" && ERROR_LINE.test(line.line))) next(line);
  };
}
