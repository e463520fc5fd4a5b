import { homedir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { DEFAULT_MAX_VMS } from "../targets/pulumi/plan.ts";
import { DEFAULT_GROUP } from "../core/naming.ts";
import { ImageError } from "../targets/docker-engine/image.ts";
import { scenarioDockerfileDirs } from "../scenario/scenario.ts";
import { describeCommand } from "./describe.ts";
import { resolveSpecScenario as resolveRunScenario } from "../runs/session.ts";
import { cloudGroups, fleetGroups, orchestratorGroupOption, planLimits, scenarioArguments, scenarioParams, type ScenarioFlags } from "./scenario-options.ts";
import { stackInstanceTypes } from "./stack-file.ts";
import { DEFAULT_TTL } from "../core/namespace.ts";
import { parseSshHost, type SshHost } from "../targets/ssh-hosts/host-spec.ts";
import { InventoryError } from "../core/inventory.ts";
import { NamespaceInUseError } from "../targets/docker-engine/provisioner.ts";
import { ScenarioError } from "../scenario/scenario.ts";
import { cloudFleetRequest, type CloudFlags } from "./cloud.ts";
import { localhostTarget } from "../targets/localhost/target.ts";
import { sshHostsTarget } from "../targets/ssh-hosts/target.ts";
import { type CliContext, UsageError } from "./context.ts";
import { FleetInputError } from "../targets/context.ts";
import { destroyCommand, extendCommand, inventoryCommand, listCommand, liveInventory, namespaceState, reapCommand, upCommand } from "./fleet.ts";
import { handleInterrupts, INTERRUPTED_EXIT_CODE, InterruptedError } from "./interrupt.ts";
import {
  agentCountOption,
  flagOf,
  generatedNamespace,
  imageOption,
  namespaceOption,
  ownerName,
  portsPerAgentOption,
  requireNamespace,
  ttlOption,
} from "./options.ts";
import { observeRequest, type ObserveFlags } from "./observe-options.ts";
import { prometheusImportCommand } from "./prometheus-import.ts";
import { healFleet } from "../runtime/faults/heal-fleet.ts";
import { NETWORK_MODES, type NetworkMode } from "../targets/docker-engine/network.ts";
import { writeJson } from "./output.ts";
import { runCommand, runnerCommand, type FleetSource } from "./run.ts";
import { addLongRunOptions, longRunRequest, registerRunsCommands, type LongRunFlags } from "./runs.ts";
import { detachCommand } from "./detach.ts";
import { RunInputError } from "../runs/context.ts";
import { ORCHESTRATOR_WEBSITE_PORT } from "../runs/homes/engine-container.ts";

const EXAMPLES = `
Examples:
  $ fieldtest run health --localhost --vms 3          deploy 3 agents, run, tear down
  $ fieldtest run su-cluster --localhost --param units=3 --group router=1
  $ fieldtest describe su-cluster                  groups, parameters and invariants
  $ fieldtest run health --localhost --website --prometheus --monitoring --keep-alive
  $ fieldtest up --localhost --namespace alice --vms 2 --ttl 30m
  $ fieldtest up --ssh-host root@h1:22 --ssh-host root@h2:22 --namespace bob --vms 4
  $ fieldtest up --cloud gcp --project my-project --zone europe-west1-b --ssh-source-range 203.0.113.7/32 --namespace carol --vms 3
  $ fieldtest list --namespace alice --json
  $ fieldtest run ./scenarios/my-scenario.ts --namespace alice
  $ fieldtest destroy --namespace alice --dry-run
  $ fieldtest extend --namespace alice --ttl 4h       alice now expires 4 hours from now
  $ fieldtest reap
  $ fieldtest prometheus import runs/alice/<run-id>    browse an old run's metrics

Namespaces are lowercase DNS labels of at most 20 characters (FIELDTEST_NAMESPACE sets a
default). Everything fieldtest creates carries the labels fieldtest-namespace,
fieldtest-expires-at and fieldtest-owner; destroy selects by the exact namespace label, so
destroying alice never touches alice-test. Every agent removes itself when its TTL passes,
even if fieldtest itself was killed.

Exit status: 0 success, 1 failure (a failed scenario too), 2 bad input (nothing was
created), 130 interrupted.`;

interface UpFlags extends CloudFlagsInput {
  localhost?: boolean;
  sshHost: string[];
  sshKey: string;
  sshKnownHosts: string;
  cloud?: string;
  dryRun?: boolean;
  replaceVms?: boolean;
}

type CloudFlagsInput = Omit<CloudFlags, "cloud" | "vms">;

interface FleetFlags extends ScenarioFlags {
  namespace?: string;
  ttl?: string;
  portsPerAgent?: string;
  network?: string;
  json?: boolean;
  maxVms?: string;
  maxCores?: string;
  maxRamGb?: string;
}

function fleetOptions(command: Command): Command {
  return command
    .option("--namespace <name>", "namespace of the fleet (default: $FIELDTEST_NAMESPACE)")
    .option("--vms <count>", "number of agents to create (a scenario with one group: that group's count)")
    .option("--ttl <duration>", "time to live of every agent, e.g. 90s, 30m, 2h, 1d", DEFAULT_TTL)
    .option("--ports-per-agent <count>", "size of each agent's port slice, sshd's port included", "100")
    .option("--image <name>", "agent image of the groups that name none: dockerfiles/<name>.Dockerfile of your project or fieldtest's (default debian), or a published image")
    .option("--param <name=value>", "a scenario parameter, read by the type its schema declares (repeat for more)", collect, [])
    .option("--params <file.json>", "scenario parameters from a JSON object; --param wins over it")
    .option("--max-vms <count>", "refuse a plan of more agents than this, a guard against costly typos", String(DEFAULT_MAX_VMS))
    .option("--max-cores <count>", "refuse a plan whose shapes add up to more cores than this")
    .option("--max-ram-gb <gb>", "refuse a plan whose shapes add up to more RAM than this")
    .option("--network <own|host>", "own: an address per agent, as faults need (default on localhost); host: the host's network, port slices (default on SSH hosts)");
}

export function buildProgram(context: CliContext, setExitCode: (code: number) => void, exitNow: (code: number) => never, argv: readonly string[] = []): Command {
  const program = new Command("fieldtest")
    .description("Run TypeScript experiment scenarios on fleets of machines, torn down by namespace with a TTL.")
    .version(context.version, "-V, --version", "print fieldtest's version")
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addHelpText("after", EXAMPLES);

  const withInterrupts = async (work: (interrupt: ReturnType<typeof handleInterrupts>) => Promise<void>) => {
    const interrupt = handleInterrupts(context, () => exitNow(INTERRUPTED_EXIT_CODE));
    try {
      await work(interrupt);
      if (interrupt.signal.aborted) setExitCode(INTERRUPTED_EXIT_CODE);
    } finally {
      interrupt.dispose();
    }
  };

  addLongRunOptions(fleetOptions(
    program
      .command("run")
      .summary("run a scenario on a fleet")
      .description(
        "Runs a scenario (a name from scenarios/ or a path to a .ts file). With --localhost a fresh fleet is " +
          "created for the run and removed afterwards (--keep keeps it). With --namespace alone the live agents " +
          "of that namespace are used and left running. With --inventory, the agents of an inventory file.",
      )
      .argument("<scenario>", "scenario name (scenarios/<name>.ts) or path"),
  )
    .option("--localhost", "create the agents as Docker containers on this machine for this run")
    .option("--group <name=count>", "with --localhost: the count of one of the scenario's groups, e.g. unit=5 (repeat for more)", collect, [])
    .option("--inventory <file>", "run on the agents of an inventory JSON file (as `fieldtest inventory` prints)")
    .option("--ssh-key <file>", "private key for the agents (default: the namespace's key in the state directory)")
    .option("--keep", "with --localhost: leave the agents running after the run (their TTL still applies)")
    .option("--keep-alive [duration]", "after the scenario, keep the fleet until `fieldtest stop`, Ctrl+C or the duration (e.g. 10m); the exit status is still the run's result")
    .option("--json", "print the run's outcome as JSON on stdout; logs go to stderr")
    .option("--runs-dir <dir>", "keep the run's config, inventory, logs, metrics and result in <dir>/<namespace>/<run-id>/ (default: $FIELDTEST_RUNS_DIR or ./runs)")
    .option("--website", "serve the run's website: agents, TTL, phase, live charts, logs, /metrics")
    .option("--website-host <address>", "address the website listens on; other than loopback it needs --website-user (default 127.0.0.1)")
    .option("--website-port <port>", "website port, 0 for any free one (default 8080)")
    .option("--website-user <name>", "require HTTP basic auth with this user; the password is read from $FIELDTEST_WEBSITE_PASSWORD")
    .option("--website-tls-cert <pem>", "serve the website over HTTPS with this certificate (and --website-tls-key)")
    .option("--website-tls-key <pem>", "private key of --website-tls-cert")
    .option("--insecure-http", "allow a non-loopback --website-host without TLS (password and run readable on the network)")
    .option("--prometheus", "run a Prometheus server scraping the website, node exporters and the scenario's sources; snapshot it into the run directory (implies --website)")
    .option("--prometheus-port <port>", "Prometheus port (default 9090)")
    .option("--scrape-interval <duration>", "how often Prometheus scrapes (default 5s)")
    .option("--monitoring", "with --prometheus: run a node exporter in every agent (takes the first free port of its slice)")
    .option("--alert-webhook", "with --prometheus: POST each alert that starts firing to the URL in $FIELDTEST_ALERT_WEBHOOK (kept out of ps)")
    .option("--grafana", "with --prometheus: run Grafana in a container on this machine, provisioned with fieldtest's dashboard")
    .option("--grafana-port <port>", "Grafana port (default 3000)")
    .option("--grafana-image <image>", "Grafana image on this Docker engine (default grafana/grafana-oss)"))
    .action(async (scenario: string, flags: FleetFlags & ObserveFlags & LongRunFlags & { localhost?: boolean; inventory?: string; sshKey?: string; keep?: boolean; keepAlive?: boolean | string }, command: Command) => {
      const source = fleetSource(context, flags);
      const scenarioArgs = scenarioArguments(flags);
      const observe = observeRequest(flags, context.env, context.cwd);
      const longRun = longRunRequest(flags);
      if (flags.detach) {
        const named = [["--params", flags.params], ["--website-tls-cert", flags.websiteTlsCert], ["--website-tls-key", flags.websiteTlsKey]] as const;
        const files = named.flatMap(([flag, path]) => (path === undefined ? [] : [{ flag, path }]));
        const request = { argv, options: command.options, scenario, source, scenarioArgs, observe, files, json: Boolean(flags.json), keepAlive: flags.keepAlive ?? false, longRun };
        return withInterrupts((interrupt) => detachCommand(context, request, interrupt));
      }
      // Inside an orchestrator container: the host publishes this port on its loopback, and only
      // the namespace's own bridge reaches it otherwise.
      if (flags.websiteInContainer && observe.website) observe.website = { ...observe.website, host: "0.0.0.0", port: ORCHESTRATOR_WEBSITE_PORT, allowUnauthenticatedRemote: true };
      // The run's result is its exit status: a Ctrl+C that ends a keep-alive after a pass is a pass.
      const interrupt = handleInterrupts(context, () => exitNow(INTERRUPTED_EXIT_CODE));
      try {
        const outcome = await runCommand(context, { scenario, source, scenarioArgs, keepAlive: flags.keepAlive ?? false, json: Boolean(flags.json), observe, longRun }, interrupt);
        setExitCode(outcome.result === "passed" ? 0 : outcome.result === "failed" ? 1 : INTERRUPTED_EXIT_CODE);
      } finally {
        interrupt.dispose();
      }
    });

  program
    .command("runner", { hidden: true })
    .description("Runs the spec a detached run's parent staged (run --detach starts it; not for direct use).")
    .argument("<run-spec>", "run-spec.json in the run directory")
    .action(async (specPath: string) => {
      const interrupt = handleInterrupts(context, () => exitNow(INTERRUPTED_EXIT_CODE));
      try {
        const outcome = await runnerCommand(context, specPath, interrupt);
        setExitCode(outcome.result === "passed" ? 0 : outcome.result === "failed" ? 1 : INTERRUPTED_EXIT_CODE);
      } finally {
        interrupt.dispose();
      }
    });

  fleetOptions(program.command("up").summary("create a fleet and leave it running"))
    .option("--localhost", "create the agents as Docker containers on this machine")
    .option("--ssh-host <[user@]host[:port]>", "create the agents on this SSH host's Docker engine (repeat for more hosts)", collect, [])
    .option("--ssh-key <file>", "with --ssh-host: private key the hosts accept", defaultSshKey(context.env))
    .option("--ssh-known-hosts <file>", "with --ssh-host: known_hosts file holding the hosts' keys", defaultKnownHosts(context.env))
    .option("--cloud <gcp|aws>", "create the agents as VMs with Pulumi (stack = namespace; needs the pulumi CLI)")
    .option("--machine-type <type>", "with --cloud: machine type of the --vms agents (default e2-standard-2 on gcp, t3.medium on aws)")
    .option("--scenario <scenario>", "create the fleet a scenario declares: its groups, images and shapes, with --param and --group name=count")
    .option("--group <spec>", "with --scenario: name=count, one group's count; with --cloud alone: name:count[:type], a group of agents instead of --vms; orchestrator=1 (not with --cloud): an agent for detached runs (repeat for more)", collect, [])
    .option("--ssh-source-range <cidr>", "with --cloud: who may reach the agents' sshd, e.g. 203.0.113.7/32 (repeat for more; required for a new stack)", collect, [])
    .option("--project <id>", "with --cloud gcp: the project (default: $GOOGLE_CLOUD_PROJECT)")
    .option("--zone <zone>", "with --cloud gcp: the zone, e.g. europe-west1-b (default: $CLOUDSDK_COMPUTE_ZONE)")
    .option("--region <region>", "with --cloud aws: the region, e.g. eu-west-1 (default: $AWS_REGION)")
    .option("--dry-run", "print the plan and check it, create nothing")
    .option("--replace-vms", "with --cloud and --ttl on an existing stack: agree that moving its expiry replaces every VM")
    .option("--json", "print the inventory as JSON")
    .action(async (flags: FleetFlags & UpFlags, command: Command) => {
      const targets = [flags.localhost, flags.sshHost.length > 0, flags.cloud !== undefined].filter(Boolean).length;
      if (targets > 1) throw new UsageError("--localhost, --ssh-host and --cloud exclude each other: agents go to one kind of place");
      if (targets === 0) throw new UsageError("up needs a target: --localhost, --ssh-host user@host:port, or --cloud gcp|aws");
      const namespace = requireNamespace(flags.namespace, context.env, "up");
      const limits = planLimits(flags, DEFAULT_MAX_VMS);
      const upOptions = { json: Boolean(flags.json), dryRun: Boolean(flags.dryRun), replaceVms: Boolean(flags.replaceVms) };
      // Not with --cloud: there the stack's groups (or --group orchestrator:1) declare it.
      const orchestrator = flags.cloud === undefined ? orchestratorGroupOption(flags.group) : { specs: flags.group };
      flags.group = orchestrator.specs;
      const declared = await declaredFleet(context, flags);
      if (flags.cloud !== undefined) {
        const instanceTypes = await stackInstanceTypes(context, namespace);
        const scenarioGroups = declared && cloudGroupsFor(flags.cloud, declared.groups, instanceTypes);
        const cloudFlags = { ...flags, cloud: flags.cloud, ttlGiven: command.getOptionValueSource("ttl") === "cli", ...(declared ? { group: [], vms: undefined } : {}) };
        const { target, request } = cloudFleetRequest(context.env, cloudFlags, { ...localFleet(context, flags, namespace), image: imageOption(flags.image) }, flags.ttl ?? DEFAULT_TTL, scenarioGroups);
        await withInterrupts((interrupt) => upCommand(context, target, { ...request, ...limits, ...(instanceTypes ? { instanceTypes } : {}) }, limits, upOptions, interrupt));
        return;
      }
      const cloudOnly = (["machineType", "project", "zone", "region"] as const).find((flag) => flags[flag] !== undefined);
      if (cloudOnly || flags.sshSourceRange?.length) throw new UsageError(`${flagOf(cloudOnly ?? "sshSourceRange")} only applies with --cloud`);
      const sshHosts = flags.sshHost.length
        ? { hosts: flags.sshHost.map(sshHostOption), operatorKeyPath: flags.sshKey, knownHostsPath: flags.sshKnownHosts }
        : undefined;
      if (!declared && flags.group.length) throw new UsageError("--group name=count needs --scenario (without one, --vms sets the count); --group name:count:type only applies with --cloud");
      const request = {
        ...localFleet(context, flags, namespace),
        ...(declared ?? { groups: [{ name: DEFAULT_GROUP, count: agentCountOption(flags.vms, sshHosts?.hosts.length ?? 1), image: imageOption(flags.image) }], dockerfileDirs: [join(context.cwd, "dockerfiles")] }),
      };
      if (orchestrator.group) request.groups = [...request.groups, orchestrator.group];
      await withInterrupts((interrupt) =>
        sshHosts ? upCommand(context, sshHostsTarget, { ...request, sshHosts }, limits, upOptions, interrupt) : upCommand(context, localhostTarget, request, limits, upOptions, interrupt),
      );
    });

  program
    .command("describe")
    .summary("explain a scenario: its groups, parameters with defaults and docs, and invariants")
    .argument("<scenario>", "scenario name (scenarios/<name>.ts) or path")
    .option("--param <name=value>", "show the fleet for this parameter value (repeat for more)", collect, [])
    .option("--params <file.json>", "show the fleet for these parameters")
    .option("--json", "print JSON")
    .action(async (reference: string, flags: { param: string[]; params?: string; json?: boolean }) => {
      await describeCommand(context, reference, scenarioArguments(flags), Boolean(flags.json));
    });

  program
    .command("list")
    .summary("list namespaces, or the agents of one")
    .option("--namespace <name>", "list the agents of this namespace")
    .option("--json", "print JSON")
    .action(async (flags: { namespace?: string; json?: boolean }) => {
      await listCommand(context, namespaceOption(flags.namespace, {}), Boolean(flags.json));
    });

  program
    .command("inventory")
    .summary("print a namespace's inventory JSON (input of `run --inventory`)")
    .option("--namespace <name>", "the namespace (default: $FIELDTEST_NAMESPACE)")
    .action(async (flags: { namespace?: string }) => {
      await inventoryCommand(context, requireNamespace(flags.namespace, context.env, "inventory"));
    });

  program
    .command("destroy")
    .summary("remove every agent of a namespace")
    .option("--namespace <name>", "the namespace to remove, matched exactly (default: $FIELDTEST_NAMESPACE)")
    .option("--dry-run", "only say what would be removed")
    .option("--json", "print JSON")
    .action(async (flags: { namespace?: string; dryRun?: boolean; json?: boolean }) => {
      await destroyCommand(context, requireNamespace(flags.namespace, context.env, "destroy"), Boolean(flags.dryRun), Boolean(flags.json));
    });

  program
    .command("extend")
    .summary("push a namespace's expiry: everything of it now expires --ttl from now")
    .option("--namespace <name>", "the namespace (default: $FIELDTEST_NAMESPACE)")
    .option("--ttl <duration>", "new time to live, counted from now, e.g. 4h, 3d")
    .option("--replace-vms", "for a Pulumi stack: agree that moving its expiry replaces every VM (their boot scripts carry it)")
    .option("--json", "print JSON")
    .action(async (flags: { namespace?: string; ttl?: string; json?: boolean; replaceVms?: boolean }) => {
      const namespace = requireNamespace(flags.namespace, context.env, "extend");
      if (flags.ttl === undefined) throw new UsageError("extend needs --ttl <duration>, e.g. --ttl 4h: the namespace then expires that long from now");
      await extendCommand(context, namespace, flags.ttl, ttlOption(flags.ttl), { json: Boolean(flags.json), replaceVms: Boolean(flags.replaceVms) });
      });

  program
    .command("heal")
    .summary("remove every fault (cloud.faults) from a namespace's agents")
    .description("Heals every partition, delay, loss, bandwidth cap, clock skew and pause on every agent of the namespace, whichever run made it. Agents also heal each fault by themselves at its deadline.")
    .option("--namespace <name>", "the namespace (default: $FIELDTEST_NAMESPACE)")
    .option("--json", "print one report per agent as JSON")
    .action(async (flags: { namespace?: string; json?: boolean }) => {
      const namespace = requireNamespace(flags.namespace, context.env, "heal");
      const inventory = await liveInventory(context, namespace);
      if (!inventory) throw new UsageError(`namespace ${namespace} has no running agents, so nothing to heal`);
      const privateKey = await namespaceState(context, namespace).existingPrivateKey().catch((error: Error) => {
        throw new UsageError(error.message);
      });
      const reports = await healFleet(inventory, privateKey);
      if (flags.json) writeJson(context.stdout, reports);
      else for (const r of reports) context.stdout.write(`${r.agent}: ${r.error ? `NOT healed: ${r.error}` : r.healed.length ? r.healed.join(", ") : "no fault"}\n`);
      if (reports.some((r) => r.error)) setExitCode(1);
    });

  program
    .command("reap")
    .summary("remove everything whose TTL has passed: containers here and on recorded SSH hosts, Pulumi stacks, stale state")
    .option("--owner <name>", "only containers labelled with this fieldtest-owner (default: every owner)")
    .option("--dry-run", "only say what would be removed")
    .option("--json", "print JSON")
    .action(async (flags: { owner?: string; dryRun?: boolean; json?: boolean }) => {
      await reapCommand(context, { dryRun: Boolean(flags.dryRun), json: Boolean(flags.json), ...(flags.owner === undefined ? {} : { owner: flags.owner }) });
    });

  program
    .command("prometheus")
    .summary("work with a run's saved Prometheus data")
    .command("import")
    .summary("serve a saved Prometheus snapshot again, until Ctrl+C")
    .description("Starts a Prometheus that serves a run's snapshot (a run directory, or its prometheus-snapshot folder) and scrapes nothing. The snapshot itself is never modified.")
    .argument("<dir>", "runs/<namespace>/<run-id> or its prometheus-snapshot folder")
    .option("--port <port>", "port to serve on", "9090")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action(async (dir: string, flags: { port: string; host: string }) => {
      // Ctrl+C is how serving ends, so it is a success here, not an interruption.
      const interrupt = handleInterrupts(context, () => exitNow(INTERRUPTED_EXIT_CODE));
      try {
        await prometheusImportCommand(context, { dir, port: flags.port, host: flags.host }, interrupt);
      } finally {
        interrupt.dispose();
      }
    });

  registerRunsCommands(program, context, setExitCode, exitNow);

  return program;
}

function networkOption(value: string): NetworkMode {
  if (!(NETWORK_MODES as readonly string[]).includes(value)) throw new UsageError(`--network "${value}": use own (an address per agent) or host (the host's network)`);
  return value as NetworkMode;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function sshHostOption(text: string): SshHost {
  try {
    return parseSshHost(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function defaultSshKey(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), ".ssh", "id_ed25519");
}

function defaultKnownHosts(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), ".ssh", "known_hosts");
}

function localFleet(context: CliContext, flags: FleetFlags, namespace: string) {
  return {
    namespace,
    ttlSeconds: ttlOption(flags.ttl),
    portsPerAgent: portsPerAgentOption(flags.portsPerAgent),
    owner: ownerName(context.env),
    ...(flags.network === undefined ? {} : { network: networkOption(flags.network) }),
  };
}

/** `up --scenario`: the scenario's groups for these parameters and overrides, and where its Dockerfiles are. */
async function declaredFleet(context: CliContext, flags: FleetFlags & { scenario?: string }) {
  if (flags.scenario === undefined) {
    if (flags.param?.length || flags.params !== undefined) throw new UsageError("--param and --params need --scenario <scenario>: parameters belong to a scenario");
    return undefined;
  }
  const scenario = await resolveRunScenario(context, flags.scenario);
  const args = scenarioArguments({ ...flags, group: (flags.group ?? []).filter((spec) => spec.includes("=") || !spec.includes(":")) });
  if (flags.group?.some((spec) => !spec.includes("=") && spec.includes(":"))) {
    throw new UsageError("--group name:count:type does not go with --scenario: the scenario declares its groups; override a count with --group <name>=<count>");
  }
  const groups = fleetGroups(scenario, await scenarioParams(scenario, args), args.overrides);
  return { groups, dockerfileDirs: scenarioDockerfileDirs(scenario, context.cwd) };
}

function cloudGroupsFor(cloud: string, groups: Parameters<typeof cloudGroups>[0], table: Parameters<typeof cloudGroups>[2]) {
  if (cloud !== "gcp" && cloud !== "aws") return undefined;
  return cloudGroups(groups, cloud, table);
}

function fleetSource(context: CliContext, flags: FleetFlags & { localhost?: boolean; inventory?: string; sshKey?: string; keep?: boolean; endAgents?: boolean }): FleetSource {
  if (flags.localhost && flags.inventory) throw new UsageError("--localhost and --inventory exclude each other: a run either makes its fleet or uses a given one");
  if (flags.keep && !flags.localhost) throw new UsageError("--keep only applies with --localhost (other fleets are never removed by run)");
  if (flags.localhost) {
    const namespace = namespaceOption(flags.namespace, context.env) ?? generatedNamespace();
    return { kind: "localhost", request: localFleet(context, flags, namespace), limits: planLimits(flags, DEFAULT_MAX_VMS), keep: Boolean(flags.keep) };
  }
  const fleetOnly = (["vms", "image", "maxCores", "maxRamGb"] as const).find((flag) => flags[flag] !== undefined) ?? (flags.group?.length ? "group" : undefined);
  if (fleetOnly) throw new UsageError(`${flagOf(fleetOnly)} only applies with --localhost: an existing fleet has the agents it has`);
  if (flags.inventory) return { kind: "inventory", path: flags.inventory, keyPath: flags.sshKey, endAgents: Boolean(flags.endAgents) };
  const namespace = namespaceOption(flags.namespace, context.env);
  if (!namespace) throw new UsageError("run needs a fleet: --localhost to create one, --namespace <name> to use a live one, or --inventory <file>");
  return { kind: "namespace", namespace, keyPath: flags.sshKey };
}

const USAGE_ERRORS = [UsageError, RunInputError, FleetInputError, ScenarioError, InventoryError, NamespaceInUseError, ImageError];

/** Runs the CLI and returns its exit status; only the second Ctrl+C exits directly. */
export async function main(argv: readonly string[], context: CliContext, exitNow: (code: number) => never): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(context, (code) => (exitCode = code), exitNow, argv);
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof InterruptedError) return INTERRUPTED_EXIT_CODE;
    const message = (error as Error).message;
    context.stderr.write(`fieldtest: ${message}\n`);
    return USAGE_ERRORS.some((type) => error instanceof type) ? 2 : 1;
  }
}


