import { spawn, type ChildProcess } from "node:child_process";

/**
 * Runs "$@" and ends it (TERM) when its stdin reaches EOF. Its stdin is a pipe from this
 * process, which the kernel closes however this process ends, `kill -9` included.
 */
// A non-interactive sh gives background jobs /dev/null as stdin, so the pipe is kept on fd 3.
// umask 077: what the program writes (a TSDB, logs) is its owner's alone. HUP is passed on (reload).
const WRAPPER = `
umask 077
exec 3<&0
"$@" 3<&- &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
trap 'kill -HUP "$child" 2>/dev/null' HUP
{ cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null; } &
while kill -0 "$child" 2>/dev/null; do wait "$child"; done
`;

export interface TiedProcess {
  child: ChildProcess;
  /** Settles when the program has ended (or could not start). */
  exited: Promise<void>;
  /** TERM to the whole group, KILL after `graceMs`; resolves once the program is gone. */
  stop(graceMs: number): Promise<void>;
  /** Sends SIGHUP to the program (through its wrapper); false when it has ended. */
  hangUp(): boolean;
}

/** What a child may inherit: never the runner's secrets (FIELDTEST_WEBSITE_PASSWORD, cloud credentials). */
const INHERITED_VARIABLES = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

export function scrubbedEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(INHERITED_VARIABLES.filter((name) => env[name] !== undefined).map((name) => [name, env[name]]));
}

/**
 * Starts a long-running program that cannot outlive this process. It gets a process group
 * of its own, so the terminal's Ctrl+C reaches only fieldtest, which stops it in order (a
 * Prometheus snapshot first) instead of both dying at once.
 */
export function spawnTied(binary: string, args: readonly string[], stderr: "pipe" | "ignore" = "pipe"): TiedProcess {
  const child = spawn("sh", ["-c", WRAPPER, "sh", binary, ...args], { detached: true, stdio: ["pipe", "ignore", stderr], env: scrubbedEnvironment(process.env) });
  // A failed write after the wrapper is gone must not crash the runner.
  child.stdin!.on("error", () => {});
  const exited = new Promise<void>((resolve) => {
    child.once("error", () => resolve());
    child.once("exit", () => resolve());
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // ESRCH: every process of the group has ended already.
    }
  };
  return {
    child,
    exited,
    hangUp() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false;
      process.kill(child.pid, "SIGHUP");
      return true;
    },
    async stop(graceMs) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup("SIGTERM");
        const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      child.stdin!.end();
      await exited;
    },
  };
}
