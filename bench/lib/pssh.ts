import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Inventory } from "../../src/core/inventory.ts";

/**
 * Debian's parallel-ssh (package `pssh`), as a user without fieldtest would drive a fleet: one
 * `ssh` per host and command, all hosts at once (`-p` the fleet's size), the inventory's host
 * keys pinned through a known_hosts file of their own.
 */
export interface Pssh {
  hostsPath: string;
  /** `-O` options and the rest every call shares. */
  options: string[];
  parallelism: number;
}

export interface PsshRun {
  wallMs: number;
  /** CPU time of parallel-ssh and every ssh it started (the shell's `times` of its children). */
  cpuMs: number;
}

const INSTALL_HINT = "the scale measure's baseline is Debian's parallel-ssh: install it with `apt-get install pssh`";

/** Rejects, saying how to install it, unless parallel-ssh runs. */
export function requirePssh(): Promise<void> {
  return new Promise((resolve, reject) => execFile("parallel-ssh", ["--version"], (error) => (error ? reject(new Error(INSTALL_HINT)) : resolve())));
}

/** The hosts and known_hosts files of an inventory, and the options every call shares. */
export async function preparePssh(inventory: Inventory, dir: string, keyPath: string): Promise<Pssh> {
  const hostsPath = join(dir, "pssh-hosts");
  const knownHostsPath = join(dir, "pssh-known-hosts");
  await writeFile(hostsPath, inventory.agents.map((a) => `${a.user}@${a.host}:${a.sshPort}\n`).join(""));
  await writeFile(knownHostsPath, inventory.agents.map((a) => `[${a.host}]:${a.sshPort} ${a.hostKey}\n`).join(""));
  const ssh = [
    `UserKnownHostsFile=${knownHostsPath}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    `IdentityFile=${keyPath}`,
    "IdentitiesOnly=yes",
    "BatchMode=yes",
    "LogLevel=ERROR",
    "ControlMaster=no",
    "ControlPath=none",
  ];
  const parallelism = inventory.agents.length;
  // No ~/.ssh/config of this machine's user may change what is measured.
  const options = ["-h", hostsPath, "-p", String(parallelism), "-t", "600", "-x", "-F /dev/null", ...ssh.flatMap((o) => ["-O", o])];
  return { hostsPath, options, parallelism };
}

/** `command` on every host at once; rejects unless every host succeeded. */
export function psshExec(pssh: Pssh, command: string, signal: AbortSignal): Promise<PsshRun> {
  // `times` prints the shell's own CPU, then that of its waited-for children: parallel-ssh and,
  // through it, every ssh it waited for.
  const script = `"$@" >/dev/null; status=$?; times >&2; exit $status`;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", script, "pssh", "parallel-ssh", ...pssh.options, command], { signal, maxBuffer: 1 << 20 }, (error, _stdout, stderr) => {
      const wallMs = performance.now() - started;
      if (error) return reject(new Error(`parallel-ssh failed (${error.message.split("\n")[0]}): ${stderr.trim().split("\n").slice(-5).join("\n")}`));
      const children = stderr.trim().split("\n").at(-1) ?? "";
      const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      if (seconds.length !== 2) return reject(new Error(`parallel-ssh: cannot read its CPU time from \`times\`: ${children}`));
      resolve({ wallMs, cpuMs: (seconds[0]! + seconds[1]!) * 1000 });
    });
  });
}
