import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { AgentSpec } from "../../src/core/inventory.ts";

/**
 * The OpenSSH baselines: the namespace's own client key and a known_hosts file of the pinned
 * host keys (strict checking, no user or global config), either a new connection per command
 * or a ControlMaster per agent that later commands multiplex over.
 */
export class OpenSsh {
  private readonly masters = new Map<string, ChildProcess>();

  constructor(
    private readonly keyPath: string,
    private readonly knownHostsPath: string,
    private readonly controlDir: string,
  ) {}

  private options(): string[] {
    return [
      "-F", "/dev/null",
      "-i", this.keyPath,
      "-o", "IdentitiesOnly=yes",
      "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${this.knownHostsPath}`,
      "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "LogLevel=ERROR",
    ];
  }

  controlPath(agent: AgentSpec): string {
    return join(this.controlDir, `cm-${agent.sshPort}`);
  }

  /** `ssh` arguments for one command: over the agent's ControlMaster, or a new connection. */
  sshArgs(agent: AgentSpec, command: string, via: "master" | "new"): string[] {
    const control = via === "master" ? ["-o", "ControlMaster=no", "-o", `ControlPath=${this.controlPath(agent)}`] : ["-o", "ControlMaster=no", "-o", "ControlPath=none"];
    return [...this.options(), ...control, "-p", String(agent.sshPort), `${agent.user}@${agent.host}`, command];
  }

  /** `scp` arguments copying a local file to the agent over its ControlMaster. */
  scpArgs(agent: AgentSpec, local: string, remote: string): string[] {
    return [...this.options(), "-o", "ControlMaster=no", "-o", `ControlPath=${this.controlPath(agent)}`, "-P", String(agent.sshPort), local, `${agent.user}@${agent.host}:${remote}`];
  }

  spawnSsh(agent: AgentSpec, command: string, via: "master" | "new", stdio: StdioOptions = "ignore"): ChildProcess {
    return spawn("ssh", this.sshArgs(agent, command, via), { stdio });
  }

  /** Runs `ssh … command` and returns its wall time in milliseconds; a failure throws. */
  timeSsh(agent: AgentSpec, command: string, via: "master" | "new"): Promise<number> {
    const started = performance.now();
    return finished(this.spawnSsh(agent, command, via, ["ignore", "ignore", "pipe"]), `ssh ${agent.name} ${command}`).then(() => performance.now() - started);
  }

  timeScp(agent: AgentSpec, local: string, remote: string): Promise<number> {
    const started = performance.now();
    return finished(spawn("scp", this.scpArgs(agent, local, remote), { stdio: ["ignore", "ignore", "pipe"] }), `scp to ${agent.name}`).then(
      () => performance.now() - started,
    );
  }

  /** Runs `ssh … command` over the agent's ControlMaster with `local` as its stdin; returns its wall time in ms. */
  async timeSshFromFile(agent: AgentSpec, command: string, local: string): Promise<number> {
    const input = await open(local, "r");
    try {
      const started = performance.now();
      await finished(this.spawnSsh(agent, command, "master", [input.fd, "ignore", "pipe"]), `ssh ${agent.name} ${command} < ${local}`);
      return performance.now() - started;
    } finally {
      await input.close();
    }
  }

  /** Starts a ControlMaster for the agent (once) and waits until its control socket exists. */
  async startMaster(agent: AgentSpec): Promise<void> {
    if (this.masters.has(agent.name)) return;
    const path = this.controlPath(agent);
    const master = spawn(
      "ssh",
      [...this.options(), "-N", "-o", "ControlMaster=yes", "-o", `ControlPath=${path}`, "-o", "ControlPersist=no", "-p", String(agent.sshPort), `${agent.user}@${agent.host}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.masters.set(agent.name, master);
    let stderr = "";
    master.stderr?.on("data", (chunk) => (stderr += chunk));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (master.exitCode !== null || master.signalCode !== null) {
        throw new Error(`ssh ControlMaster for ${agent.name} exited: ${stderr.trim() || `code ${master.exitCode}`}`);
      }
      if (await stat(path).then(() => true, () => false)) return;
      if (Date.now() > deadline) throw new Error(`ssh ControlMaster for ${agent.name} did not come up in 20 s: ${stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Process ids of the running ControlMasters. */
  masterPids(): number[] {
    return [...this.masters.values()].map((m) => m.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Ends the ControlMasters this object started, by their process ids. */
  async stopMasters(): Promise<void> {
    const masters = [...this.masters.values()];
    this.masters.clear();
    await Promise.all(
      masters.map((master) => {
        if (master.exitCode !== null || master.signalCode !== null) return;
        const gone = new Promise((resolve) => master.once("close", resolve));
        master.kill("SIGTERM");
        return gone;
      }),
    );
  }
}

/** Resolves when the process exits with status 0; otherwise rejects with its stderr. */
export function finished(child: ChildProcess, what: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`)),
    );
  });
}
