import { homedir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { DEFAULT_MAX_VMS, DEFAULT_TTL } from "../core/defaults.ts";
import { DEFAULT_GROUP } from "../core/naming.ts";
import { type CliContext, UsageError } from "./context.ts";
import type { FleetFlags, UpFlags } from "./fleet-flags.ts";
import { handleInterrupts, INTERRUPTED_EXIT_CODE, InterruptedError } from "./interrupt.ts";
import type { ObserveFlags } from "./observe-options.ts";
import { addLongRunOptions, registerRunsCommands, type LongRunFlags } from "./runs.ts";

// Each command loads what it uses when it runs (`await import` in its action): `--help`, `list`,
// `describe` or `destroy` never load Pulumi, the website or esbuild, and start in a fraction of
// the time that loading everything took. Only commander and small modules are imported above.

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

export function buildProgram(context: CliContext, setExitCode: (code: number) => void, exitNow: (code: number) => never): Command {
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
    .option("--keep", "with --localhost: leave the agents running after the run (their TTL still applies); the run's daemons are stopped")
    .option("--keep-daemons", "as --keep, with the run's daemons left running too: they are started to outlive the runner, with output in /var/log/fieldtest/daemons/ on the agent")
    .option("--keep-alive [duration]", "after the scenario, keep the fleet until `fieldtest stop`, Ctrl+C or the duration (e.g. 10m); the exit status is still the run's result")
    .option("--deadline <duration>", "the scenario must end within this (e.g. 30m): past it the run is stopped (cloud.signal aborts) and fails with reason \"deadline\", exit 1")
    .option("--check-every <duration>", "run the checkers over the history so far this often while the scenario runs (e.g. 10s): a verdict of invalid stops the run, which fails with reason \"check-failed\"")
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
    .action(async (scenario: string, flags: FleetFlags & ObserveFlags & LongRunFlags & { localhost?: boolean; inventory?: string; sshKey?: string; keep?: boolean; keepDaemons?: boolean; keepAlive?: boolean | string; deadline?: string; checkEvery?: string }) => {
      const [{ fleetSource }, { scenarioArguments }, { observeRequest }, { longRunRequest }] = await Promise.all([
        import("./fleet-flags.ts"),
        import("./scenario-options.ts"),
        import("./observe-options.ts"),
        import("./runs-actions.ts"),
      ]);
      const source = fleetSource(context, flags);
      const scenarioArgs = scenarioArguments(flags);
      const observe = observeRequest(flags, context.env, context.cwd);
      const longRun = longRunRequest(flags);
      const limits = { ...(flags.deadline === undefined ? {} : { deadline: flags.deadline }), ...(flags.checkEvery === undefined ? {} : { checkEvery: flags.checkEvery }) };
      if (flags.detach) {
        const request = { scenario, source, scenarioArgs, observe, json: Boolean(flags.json), keepAlive: flags.keepAlive ?? false, longRun, websitePortGiven: flags.websitePort !== undefined, ...limits };
        const { detachCommand } = await import("./detach.ts");
        return withInterrupts((interrupt) => detachCommand(context, request, interrupt));
      }
      const { runCommand } = await import("./run.ts");
      // The run's result is its exit status: a Ctrl+C that ends a keep-alive after a pass is a pass.
      const interrupt = handleInterrupts(context, () => exitNow(INTERRUPTED_EXIT_CODE));
      try {
        const outcome = await runCommand(context, { scenario, source, scenarioArgs, keepAlive: flags.keepAlive ?? false, json: Boolean(flags.json), observe, longRun, ...limits }, interrupt);
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
      const { runnerCommand } = await import("./run.ts");
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
      const [{ cloudGroupsFor, declaredFleet, localFleet, sshHostOption }, { agentCountOption, flagOf, imageOption, requireNamespace }, { runnerAgentGroupOption, planLimits }, { upCommand }] = await Promise.all([
        import("./fleet-flags.ts"),
        import("./options.ts"),
        import("./scenario-options.ts"),
        import("./fleet.ts"),
      ]);
      const targets = [flags.localhost, flags.sshHost.length > 0, flags.cloud !== undefined].filter(Boolean).length;
      if (targets > 1) throw new UsageError("--localhost, --ssh-host and --cloud exclude each other: agents go to one kind of place");
      if (targets === 0) throw new UsageError("up needs a target: --localhost, --ssh-host user@host:port, or --cloud gcp|aws");
      const namespace = requireNamespace(flags.namespace, context.env, "up");
      const limits = planLimits(flags, DEFAULT_MAX_VMS);
      const upOptions = { json: Boolean(flags.json), dryRun: Boolean(flags.dryRun), replaceVms: Boolean(flags.replaceVms) };
      // Not with --cloud: there the stack's groups (or --group orchestrator:1) declare it.
      const runnerAgent = flags.cloud === undefined ? runnerAgentGroupOption(flags.group) : { specs: flags.group };
      flags.group = runnerAgent.specs;
      const declared = await declaredFleet(context, flags);
      if (flags.cloud !== undefined) {
        const [{ stackInstanceTypes }, { cloudFleetRequest }] = await Promise.all([import("./stack-file.ts"), import("./cloud.ts")]);
        const instanceTypes = await stackInstanceTypes(context, namespace);
        const scenarioGroups = declared && cloudGroupsFor(flags.cloud, declared.groups, instanceTypes);
        const cloudFlags = { ...flags, cloud: flags.cloud, ttlGiven: command.getOptionValueSource("ttl") === "cli", ...(declared ? { group: [], vms: undefined } : {}) };
        const { target, request } = cloudFleetRequest(context.env, cloudFlags, { ...localFleet(context, flags, namespace), image: imageOption(flags.image), dockerfileDirs: declared?.dockerfileDirs ?? [join(context.cwd, "dockerfiles")] }, flags.ttl ?? DEFAULT_TTL, scenarioGroups);
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
      if (runnerAgent.group) request.groups = [...request.groups, runnerAgent.group];
      const [{ localhostTarget }, { sshHostsTarget }] = await Promise.all([import("../targets/localhost/target.ts"), import("../targets/ssh-hosts/target.ts")]);
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
      const [{ describeCommand }, { scenarioArguments }] = await Promise.all([import("./describe.ts"), import("./scenario-options.ts")]);
      await describeCommand(context, reference, scenarioArguments(flags), Boolean(flags.json));
    });

  program
    .command("list")
    .summary("list namespaces, or the agents of one")
    .option("--namespace <name>", "list the agents of this namespace")
    .option("--json", "print JSON")
    .action(async (flags: { namespace?: string; json?: boolean }) => {
      const [{ listCommand }, { namespaceOption }] = await Promise.all([import("./fleet.ts"), import("./options.ts")]);
      await listCommand(context, namespaceOption(flags.namespace, {}), Boolean(flags.json));
    });

  program
    .command("inventory")
    .summary("print a namespace's inventory JSON (input of `run --inventory`)")
    .option("--namespace <name>", "the namespace (default: $FIELDTEST_NAMESPACE)")
    .action(async (flags: { namespace?: string }) => {
      const [{ inventoryCommand }, { requireNamespace }] = await Promise.all([import("./fleet.ts"), import("./options.ts")]);
      await inventoryCommand(context, requireNamespace(flags.namespace, context.env, "inventory"));
    });

  program
    .command("destroy")
    .summary("remove every agent of a namespace")
    .option("--namespace <name>", "the namespace to remove, matched exactly (default: $FIELDTEST_NAMESPACE)")
    .option("--dry-run", "only say what would be removed")
    .option("--json", "print JSON")
    .action(async (flags: { namespace?: string; dryRun?: boolean; json?: boolean }) => {
      const [{ destroyCommand }, { requireNamespace }] = await Promise.all([import("./fleet.ts"), import("./options.ts")]);
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
      const [{ extendCommand }, { requireNamespace, ttlOption }] = await Promise.all([import("./fleet.ts"), import("./options.ts")]);
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
      const [{ liveInventory, namespaceState }, { requireNamespace }, { healFleet }, { writeJson }] = await Promise.all([
        import("./fleet.ts"),
        import("./options.ts"),
        import("../runtime/faults/heal-fleet.ts"),
        import("./output.ts"),
      ]);
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
      const { reapCommand } = await import("./fleet.ts");
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
      const { prometheusImportCommand } = await import("./prometheus-import.ts");
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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function defaultSshKey(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), ".ssh", "id_ed25519");
}

function defaultKnownHosts(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), ".ssh", "known_hosts");
}

/**
 * Bad input (exit 2), whichever module threw it. Their modules load only on this path: most
 * are heavy, and a command that failed has loaded the one that threw already.
 */
async function isBadInput(error: unknown): Promise<boolean> {
  const types = await Promise.all([
    import("../runs/context.ts").then((m) => m.RunInputError),
    import("../targets/context.ts").then((m) => m.FleetInputError),
    import("../scenario/scenario.ts").then((m) => m.ScenarioError),
    import("../core/inventory.ts").then((m) => m.InventoryError),
    import("../targets/docker-engine/provisioner.ts").then((m) => m.NamespaceInUseError),
    import("../targets/docker-engine/image.ts").then((m) => m.ImageError),
    import("../core/private-file.ts").then((m) => m.UnsafeStateError),
  ]);
  return [UsageError, ...types].some((type) => error instanceof type);
}

/** Runs the CLI and returns its exit status; only the second Ctrl+C exits directly. */
export async function main(argv: readonly string[], context: CliContext, exitNow: (code: number) => never): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(context, (code) => (exitCode = code), exitNow);
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
    return (await isBadInput(error)) ? 2 : 1;
  }
}


