import { scenarioInventory, type Inventory } from "../../core/inventory.ts";
import type { RunnerHome } from "../../targets/target.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { hostHome, hostNamespaceDir } from "../../transport/host-state.ts";
import { quoteArg } from "../../transport/quote.ts";
import { SshConnection, sshTargetOf } from "../../transport/ssh-connection.ts";
import type { RunContext } from "../context.ts";
import type { RunSpec } from "../spec.ts";
import { runEnvironment } from "./engine-container.ts";
import { remoteStatus, stageTlsFiles } from "./engine-home.ts";
import { MACHINE_NODE_VARIABLES, remoteRunLayout, remoteRunnerArgs, stageRunner, watchOverSsh, withoutEntries, writeRunnerInputs, type RemoteRunLayout, type StagedRunner as StagedCode } from "./remote-runner.ts";
import { checkSentFiles, absoluteSpec, specSeenBy, type DetachedRun, type RunnerHomeDriver } from "./runner-home.ts";

/** Beside the console in the run directory: the runner's pid on the runner agent. */
export const RUNNER_PID_FILE = "runner.pid";

/** Names a shell can export; the caller's environment may hold others (bash's exported functions). */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What the runner on the runner agent runs on: the other agents, addressed as agents
 * reach each other (a cloud's firewall opens sshd between agents on their internal addresses
 * only, and to the outside only from fieldtest:sshSourceRanges).
 */
export function runnerAgentFleet(inventory: Inventory): Inventory {
  const scenario = scenarioInventory(inventory);
  return { ...scenario, agents: scenario.agents.map(({ internalHost, ...agent }) => ({ ...agent, host: internalHost ?? agent.host })) };
}

/**
 * The runner as a process of the fleet's runner agent (group `orchestrator`, a VM of a cloud
 * namespace), started over SSH as the agents' user. It gets the staged CLI and scenario bundles
 * and node in the namespace's state there, its spec in the run directory, and runs in a session
 * of its own (setsid, nohup, stdin from /dev/null, output to the run's console.log), so it
 * outlives this SSH session and this machine. It goes with the agent at the namespace's TTL.
 * `runs`, `attach`, `stop` and `fetch-run` use its mirror on the first scenario agent, as for
 * every run.
 */
export function agentProcessHome(context: RunContext, home: Extract<RunnerHome, { home: "agent-process" }>): RunnerHomeDriver {
  const agent = home.agent;
  const where = `runner agent ${agent.name}`;
  return {
    where,
    async stage(run) {
      const fleet = run.fleet;
      if (!fleet) throw new Error(`the ${where} runs on a fleet given to it: run ${run.runId} has none`);
      await checkSentFiles(absoluteSpec(run.spec, context.cwd, run.scenarioPath), where);
      const inventory = runnerAgentFleet(fleet.inventory);
      if (inventory.agents.length === 0) throw new Error(`namespace ${inventory.namespace} has only its runner agent ${agent.name}: a scenario needs agents of other groups`);
      const ssh = new SshConnection(sshTargetOf(agent, fleet.privateKey));
      try {
        const nsDir = hostNamespaceDir(await hostHome(ssh, agent.name), inventory.namespace);
        const code = await stageRunner(ssh, agent.name, context.packageRoot, run.scenarioPath, nsDir, context.progress);
        const tls = await stageTlsFiles(ssh, agent.name, nsDir, run, context);
        const layout = remoteRunLayout(nsDir, inventory.namespace, run.runId);
        const spec = agentProcessSpec(run, layout, code, { teardown: fleet.teardown, agent: agent.name, ...(tls ? { tls: tls.view } : {}) });
        await writeRunnerInputs(ssh, agent.name, layout, fleet.privateKey, inventory, spec);
        return {
          runId: run.runId,
          runDir: layout.runDir,
          specPath: layout.specPath,
          close: () => ssh.close(),
          start: () => startOnAgent(ssh, agent.name, code.codeDir, code.nodePath, layout, context.env),
        };
      } catch (error) {
        ssh.close();
        throw error;
      }
    },
  };
}

/**
 * The spec of a runner on the runner agent: everything in the namespace's state there. Its
 * website is on the agent's loopback (nothing else of the fleet reaches it), on a free port
 * unless one was asked for, recorded with the agent's name so that `fieldtest website` tunnels
 * through this agent's SSH.
 */
export function agentProcessSpec(run: DetachedRun, layout: RemoteRunLayout, code: Pick<StagedCode, "scenarioPath">, on: { teardown: RunSpec["teardown"]; agent: string; tls?: { certPath: string; keyPath: string } }): RunSpec {
  return specSeenBy(run.spec, run.runId, {
    runsDir: layout.runsDir,
    scenario: code.scenarioPath,
    fleet: { path: layout.inventoryPath, keyPath: layout.keyPath, teardown: on.teardown },
    ...(on.tls ? { tls: on.tls } : {}),
    website: run.websitePortGiven ? {} : { port: 0 },
    fleetWebsite: { via: on.agent },
  });
}

async function startOnAgent(ssh: SshConnection, label: string, codeDir: string, nodePath: string, layout: RemoteRunLayout, env: NodeJS.ProcessEnv) {
  const pidPath = `${layout.runDir}/${RUNNER_PID_FILE}`;
  const runner = [nodePath, ...remoteRunnerArgs(codeDir, layout)].map(quoteArg).join(" ");
  // The runner writes its own pid before it becomes node (exec keeps it), so the pid is node's
  // whether or not setsid had to fork. The values of the environment travel on stdin (exec's env).
  const started = await execOnConnection(
    ssh,
    label,
    `setsid nohup sh -c 'echo $$ > "$0"; exec "$@"' ${quoteArg(pidPath)} ${runner} </dev/null >>${quoteArg(layout.consolePath)} 2>&1 &\n` +
      `for i in $(seq 1 100); do [ -s ${quoteArg(pidPath)} ] && exec cat ${quoteArg(pidPath)}; sleep 0.1; done; echo "the runner did not start" >&2; exit 1`,
    { cwd: codeDir, env: runnerEnvironment(env, layout.home) },
  );
  const pid = Number(started.stdout.trim());
  const watch = watchOverSsh(ssh, label, layout);
  return {
    details: { agent: label, pid },
    describe: `detached run ${layout.runId} on runner agent ${label} (pid ${pid}), output in ${layout.consolePath} there`,
    // A runner whose parent is gone may stay a zombie until the agent's init reaps it: that is ended too.
    status: () => remoteStatus(watch, async () => ((await execOnConnection(ssh, label, `s=$(ps -o stat= -p ${pid}) && [ "\${s#Z}" = "$s" ]`, { allowFailure: true })).code === 0 ? undefined : `the detached runner on ${label} ended before the run started`)),
    stop: async () => {
      await execOnConnection(ssh, label, `kill -TERM ${pid}`, { allowFailure: true });
    },
    close: () => ssh.close(),
  };
}

/** The caller's environment for the runner, less what names this machine, with the runner's home on the agent. */
function runnerEnvironment(env: NodeJS.ProcessEnv, home: string): Record<string, string> {
  const kept = Object.entries(runEnvironment(withoutEntries(env, MACHINE_NODE_VARIABLES))).filter(([name]) => SHELL_NAME.test(name));
  return { ...Object.fromEntries(kept), FIELDTEST_HOME: home };
}
