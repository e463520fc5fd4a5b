import { orchestratorAgent, scenarioInventory, type Inventory } from "../../core/inventory.ts";
import { runEnvironment } from "./engine-container.ts";
import { newRunId } from "../../observe/run-dir.ts";
import type { Progress } from "../../core/progress.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { quoteArg } from "../../transport/quote.ts";
import { SshConnection, sshTargetOf } from "../../transport/ssh-connection.ts";
import {
  MACHINE_NODE_VARIABLES,
  remoteRunLayout,
  type NamedFile,
  type RemoteRunner,
  remoteRunnerArgs,
  stageNamedFiles,
  stageRunner,
  watchOverSsh,
  websitePortGiven,
  withoutEntries,
  writeRunnerInputs,
} from "./remote-runner.ts";
import { hostHome, hostNamespaceDir } from "../../transport/host-state.ts";

/** Beside the console in the run directory: the runner's pid on the orchestrator agent. */
export const RUNNER_PID_FILE = "runner.pid";

/** Names a shell can export; the caller's environment may hold others (bash's exported functions). */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface AgentDetachRequest {
  packageRoot: string;
  /** The caller's environment: the runner gets it, less what names this machine. */
  env: NodeJS.ProcessEnv;
  /** The runner's arguments after the CLI, with the scenario still as typed. */
  runnerArgs: readonly string[];
  scenario: string;
  scenarioPath: string;
  /** The whole fleet, orchestrator agent included, as this machine reaches it. */
  inventory: Inventory;
  /** The agents' key. */
  privateKey: string;
  /** Files the command line names (`--params`, `--website-tls-*`), absolute: staged on the agent, and the runner is given their paths there. */
  files: readonly NamedFile[];
  /** The run serves its website (`--website`): on the agent's loopback, which `fieldtest website` reaches through the agent's SSH. */
  website: boolean;
}

/** A detached runner started on the orchestrator agent (`runDir` is on the agent). */
export interface AgentOrchestrator extends RemoteRunner {
  agent: string;
  pid: number;
}

/**
 * What the runner on the orchestrator agent runs on: the other agents, addressed as agents
 * reach each other (a cloud's firewall opens sshd between agents on their internal addresses
 * only, and to the outside only from fieldtest:sshSourceRanges).
 */
export function orchestratedInventory(inventory: Inventory): Inventory {
  const scenario = scenarioInventory(inventory);
  return { ...scenario, agents: scenario.agents.map(({ internalHost, ...agent }) => ({ ...agent, host: internalHost ?? agent.host })) };
}

/**
 * Starts a detached run's runner as a process of the fleet's orchestrator agent (group
 * `orchestrator`, a VM of a cloud namespace), over SSH as the agents' user. It gets the staged
 * CLI and scenario bundles and node in `~/.fieldtest/namespaces/<ns>/orchestrator/` there, and
 * runs in a session of its own (setsid, nohup, stdin from /dev/null, output to the run's
 * console.log), so it outlives this SSH session and this machine. It goes with the agent at the
 * namespace's TTL. `runs`, `attach`, `stop` and `fetch-run` use its mirror on the first
 * scenario agent, as for every run.
 */
export async function startAgentOrchestrator(request: AgentDetachRequest, progress: Progress): Promise<AgentOrchestrator> {
  const spec = orchestratorAgent(request.inventory);
  if (!spec) throw new Error(`namespace ${request.inventory.namespace} has no agent in group orchestrator`);
  const inventory = orchestratedInventory(request.inventory);
  if (inventory.agents.length === 0) throw new Error(`namespace ${inventory.namespace} has only its orchestrator agent ${spec.name}: a scenario needs agents of other groups`);
  const label = spec.name;
  const ssh = new SshConnection(sshTargetOf(spec, request.privateKey));
  try {
    const nsDir = hostNamespaceDir(await hostHome(ssh, label), inventory.namespace);
    const { codeDir, nodePath } = await stageRunner(ssh, label, request.packageRoot, request.scenarioPath, nsDir, progress);
    const named = await stageNamedFiles(ssh, label, nsDir, request.files, progress);
    const layout = remoteRunLayout(nsDir, inventory.namespace, newRunId());
    await writeRunnerInputs(ssh, label, layout, request.privateKey, inventory);
    const pidPath = `${layout.runDir}/${RUNNER_PID_FILE}`;
    const args = [...remoteRunnerArgs(codeDir, request.runnerArgs, request.scenario, layout), ...(named?.args ?? []), ...websiteArgs(request, spec.name)];
    const runner = [nodePath, ...args].map(quoteArg).join(" ");
    // The runner writes its own pid before it becomes node (exec keeps it), so the pid is node's
    // whether or not setsid had to fork. The values of the environment travel on stdin (exec's env).
    const started = await execOnConnection(
      ssh,
      label,
      `setsid nohup sh -c 'echo $$ > "$0"; exec "$@"' ${quoteArg(pidPath)} ${runner} </dev/null >>${quoteArg(layout.consolePath)} 2>&1 &\n` +
        `for i in $(seq 1 100); do [ -s ${quoteArg(pidPath)} ] && exec cat ${quoteArg(pidPath)}; sleep 0.1; done; echo "the runner did not start" >&2; exit 1`,
      { cwd: codeDir, env: runnerEnvironment(request.env, layout.home) },
    );
    const pid = Number(started.stdout.trim());
    return {
      runId: layout.runId,
      runDir: layout.runDir,
      agent: spec.name,
      pid,
      ...watchOverSsh(ssh, label, layout),
      // A runner whose parent is gone may stay a zombie until the agent's init reaps it: that is ended too.
      ended: async () => ((await execOnConnection(ssh, label, `s=$(ps -o stat= -p ${pid}) && [ "\${s#Z}" = "$s" ]`, { allowFailure: true })).code === 0 ? undefined : `the detached runner on ${spec.name} ended before the run started`),
      close: () => ssh.close(),
    };
  } catch (error) {
    ssh.close();
    throw error;
  }
}

/** The caller's environment for the runner, less what names this machine, with the runner's home on the agent. */
function runnerEnvironment(env: NodeJS.ProcessEnv, home: string): Record<string, string> {
  const kept = Object.entries(runEnvironment(withoutEntries(env, MACHINE_NODE_VARIABLES))).filter(([name]) => SHELL_NAME.test(name));
  return { ...Object.fromEntries(kept), FIELDTEST_HOME: home };
}

/**
 * The website on the agent's loopback (nothing else of the fleet reaches it), on a free port
 * unless one was asked for, recorded with the agent's name so that `fieldtest website` tunnels
 * through this agent's SSH.
 */
function websiteArgs(request: AgentDetachRequest, agentName: string): string[] {
  if (!request.website) return [];
  return ["--fleet-website", agentName, ...(websitePortGiven(request.runnerArgs) ? [] : ["--website-port", "0"])];
}
