import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Inventory } from "../core/inventory.ts";
import { readOperatorKey } from "../targets/ssh-hosts/target.ts";
import type { RunnerHome } from "../targets/target.ts";
import { orchestratorName, orchestratorRunning, prepareOrchestrator, startOrchestrator } from "../runs/homes/engine-container.ts";
import { FIRST_AGENT_PORT } from "../targets/docker-engine/ports.ts";
import { newRunId } from "../observe/run-dir.ts";
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
} from "../runs/homes/remote-runner.ts";
import { hostHome, hostNamespaceDir } from "../transport/host-state.ts";
import type { Progress } from "../core/progress.ts";
import { execOnConnection } from "../transport/exec.ts";
import { pinnedHostAccess } from "../targets/ssh-hosts/fleet.ts";
import { formatSshHost } from "../targets/ssh-hosts/host-spec.ts";
import { hostConnection, remoteDocker } from "../targets/ssh-hosts/remote-engine.ts";
import type { CliContext } from "./context.ts";

export interface SshDetachRequest {
  /** The runner's arguments after the CLI, with the scenario still as typed and without the options of `files`. */
  runnerArgs: readonly string[];
  scenario: string;
  scenarioPath: string;
  inventory: Inventory;
  /** The agents' key on this machine; it is copied to the host for the runner. */
  keyPath: string;
  /** Files the command line names (`--params`, `--website-tls-*`), absolute: staged on the host, and the runner is given their paths there. */
  files: readonly NamedFile[];
  /** The run serves its website (`--website`): it records where, for `fieldtest website`. */
  website: boolean;
}

/** A started orchestrator on the namespace's first host (`runDir` is on the host). */
export interface SshOrchestrator extends RemoteRunner {
  host: string;
  container: string;
}

/**
 * Starts a detached run's runner in an orchestrator container on the namespace's first host,
 * through that host's Docker engine. The host gets no node_modules: the CLI and the scenario as
 * one bundle each, and this machine's node binary, in content-addressed directories of the
 * namespace's state there (`~/.fieldtest/namespaces/<ns>/orchestrator/<digest>/`), sent only
 * when not there yet; the files the command line names go in one of their own, and the runner
 * is given their paths there. The run directory is `~/.fieldtest/namespaces/<ns>/runs/<ns>/<run>`
 * on the host; `runs`, `attach`, `stop`, `fetch-run` and `website` use its mirror on the first
 * agent as ever.
 */
export async function startSshOrchestrator(context: CliContext, home: Extract<RunnerHome, { engine: "ssh-host" }>, request: SshDetachRequest, progress: Progress): Promise<SshOrchestrator> {
  const [access] = pinnedHostAccess(home.hosts, await readOperatorKey(home.operatorKeyPath));
  const host = formatSshHost(access!.host);
  const ssh = hostConnection(access!);
  const docker = remoteDocker(access!);
  try {
    const { namespace } = request.inventory;
    const nsDir = hostNamespaceDir(await hostHome(ssh, host), namespace);
    const { codeDir, nodePath } = await stageRunner(ssh, host, context.packageRoot, request.scenarioPath, nsDir, progress);
    const named = await stageNamedFiles(ssh, host, nsDir, request.files, progress);

    const runId = newRunId();
    const layout = remoteRunLayout(nsDir, namespace, runId);
    const { runDir, runsDir, home, keyPath, consolePath } = layout;
    const user = (await execOnConnection(ssh, host, 'printf %s:%s "$(id -u)" "$(id -g)"')).stdout;
    const { owner, image, network } = await prepareOrchestrator(docker, request.inventory, join(context.packageRoot, "dockerfiles"), progress);
    await writeRunnerInputs(ssh, host, layout, await readFile(request.keyPath, "utf8"), network === "own" ? onFirstHostsNetwork(request.inventory) : request.inventory);
    const id = await startOrchestrator(docker, {
      namespace,
      runId,
      owner,
      expiresAt: new Date(request.inventory.expiresAt),
      network,
      image,
      nodePath,
      args: [...remoteRunnerArgs(codeDir, request.runnerArgs, request.scenario, layout), ...(named?.args ?? []), ...websiteArgs(request, network)],
      consolePath,
      readOnly: [codeDir, keyPath, ...(named ? [named.dir] : [])],
      readWrite: [runsDir, home],
      cwd: codeDir,
      env: { ...withoutEntries(context.env, MACHINE_NODE_VARIABLES), FIELDTEST_HOME: home },
      user,
    });
    return {
      runId,
      runDir,
      host,
      container: orchestratorName(namespace, runId),
      ...watchOverSsh(ssh, host, layout),
      ended: async () => ((await orchestratorRunning(docker, id)) ? undefined : `the detached run's orchestrator on ${host} ended before the run started`),
      close: () => ssh.close(),
    };
  } catch (error) {
    ssh.close();
    throw error;
  }
}

/**
 * The fleet as the orchestrator sees it from the namespace's network on the first host: the
 * agents of that host at their addresses on it, sshd on its own port there. Their published
 * ports are on the host's address, which from inside a container may not lead back to the host
 * (a host given as 127.0.0.1 is the container itself). Agents of other hosts keep theirs.
 */
function onFirstHostsNetwork(inventory: Inventory): Inventory {
  const firstHost = inventory.agents[0]?.host;
  return {
    ...inventory,
    agents: inventory.agents.map((agent) => (agent.host === firstHost && agent.internalHost ? { ...agent, host: agent.internalHost, sshPort: FIRST_AGENT_PORT } : agent)),
  };
}

/**
 * How the orchestrator's runner serves the website so that `fieldtest website` finds it: it
 * records the address in the run's status. On a namespace network it listens in the container
 * (--website-in-container); on the host's network, on the host's loopback, on a free port unless
 * one was asked for, since 8080 of a shared host may be taken.
 */
function websiteArgs(request: SshDetachRequest, network: "own" | "host"): string[] {
  if (!request.website) return [];
  if (network === "own") return ["--fleet-website", "--website-in-container"];
  return ["--fleet-website", ...(websitePortGiven(request.runnerArgs) ? [] : ["--website-port", "0"])];
}
