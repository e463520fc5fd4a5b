import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Agent } from "../runtime/agent.ts";
import type { FailurePath } from "../runtime/cloud.ts";

/** What a dump runs on each agent; each command's output is one file of the dump. */
const AGENT_COMMANDS: [file: string, command: string][] = [
  ["ps.txt", "ps auxww"],
  ["df.txt", "df -h"],
  // Containers often may not read the kernel ring buffer; the error says so in the file.
  ["dmesg-tail.txt", "dmesg 2>&1 | tail -n 200"],
];

const COMMAND_TIMEOUT_MS = 15_000;
/** Per path of `collectOnFailure`: a dump explains a failure, it is not a backup of the agent. */
const COLLECTED_LIMITS = { files: 10_000, bytes: 1024 ** 3 };

export interface DumpRequest {
  agents: readonly Agent[];
  /** The run directory: its logs/ are copied, the dump goes to dumps/<when>-<reason>/. */
  runDirPath: string;
  reason: string;
  failurePaths: readonly FailurePath[];
}

export interface DumpSummary {
  path: string;
  reason: string;
  agents: { agent: string; files: string[]; errors: string[] }[];
}

/**
 * Collects, before teardown, what explains a failure: for every agent, its daemons' logs
 * (fieldtest's own capture of their output), `ps`, `df`, the tail of `dmesg`, and the paths the
 * scenario registered with `cloud.collectOnFailure`. Agents are dumped in parallel; a broken
 * agent leaves an errors.txt instead of stopping the others.
 */
export async function collectDump(request: DumpRequest, now: Date = new Date()): Promise<DumpSummary> {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const path = join(request.runDirPath, "dumps", `${stamp}-${request.reason.replace(/[^A-Za-z0-9_.-]/g, "_")}`);
  await mkdir(path, { recursive: true });
  const logs = await readdir(join(request.runDirPath, "logs")).catch(() => [] as string[]);
  const agents = await Promise.all(request.agents.map((agent) => dumpAgent(agent, join(path, agent.name), request, logs)));
  const summary: DumpSummary = { path, reason: request.reason, agents };
  await writeFile(join(path, "dump.json"), `${JSON.stringify({ ...summary, collectedAt: now.toISOString() }, null, 2)}\n`);
  return summary;
}

async function dumpAgent(agent: Agent, dir: string, request: DumpRequest, logs: readonly string[]): Promise<DumpSummary["agents"][number]> {
  await mkdir(join(dir, "logs"), { recursive: true });
  const files: string[] = [];
  const errors: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
      files.push(what);
    } catch (error) {
      errors.push(`${what}: ${(error as Error).message}`);
    }
  };
  for (const log of logs.filter((name) => name.startsWith(`${agent.name}-`))) {
    await attempt(`logs/${log}`, () => copyFile(join(request.runDirPath, "logs", log), join(dir, "logs", log)));
  }
  await Promise.all(
    AGENT_COMMANDS.map(([file, command]) =>
      attempt(file, async () => {
        const result = await agent.exec(command, { allowFailure: true, timeoutMs: COMMAND_TIMEOUT_MS });
        await writeFile(join(dir, file), Buffer.concat([result.stdoutBytes, result.stderrBytes]));
      }),
    ),
  );
  for (const { path } of request.failurePaths.filter((p) => p.agent === agent.name)) {
    const local = join(dir, "files", path.replace(/^\/+/, "").replace(/\.\.(\/|$)/g, "__$1"));
    await attempt(`files/${path}`, async () => {
      await mkdir(join(local, ".."), { recursive: true });
      await agent.download(path, local, COLLECTED_LIMITS);
    });
  }
  if (errors.length) await writeFile(join(dir, "errors.txt"), `${errors.join("\n")}\n`);
  return { agent: agent.name, files, errors };
}
