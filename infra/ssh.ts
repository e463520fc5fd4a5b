import { readFile } from "node:fs/promises";
import * as pulumi from "@pulumi/pulumi";
import { parseInventory, type Inventory } from "../src/core/inventory.ts";
import { DEFAULT_GROUP, parseAgentName } from "../src/core/naming.ts";
import { knownHostKey } from "../src/targets/ssh-hosts/host-spec.ts";
import type { SshStackConfig } from "../src/core/stack-config.ts";
import { ed25519Key, openSshPublicKeyLine } from "./keys.ts";

/**
 * The ssh target: agents as containers on machines that already exist, reached over SSH. All
 * the work is done by the plain functions of src/targets/ssh-hosts/fleet.ts, which `fieldtest up
 * --ssh-host` uses too and which are tested end to end against a real sshd; this is only a thin
 * Pulumi wrapper, a dynamic resource whose create and delete call them.
 */

/**
 * What one host's dynamic resource is given, and keeps in the stack state (the keys as secrets).
 * One resource per host, so that adding a host adds its agent and leaves the others alone.
 */
export interface SshAgentsInputs {
  namespace: string;
  owner: string;
  /** The anchored expiry (ISO), the same at every `pulumi up`: a changed one (an extension) replaces the agents. */
  expiresAt: string;
  portsPerAgent: number;
  /** One agent per host. */
  count: number;
  /** The host's place in fieldtest:sshHosts: its agent is `agent-<index + 1>` (src/core/naming.ts). */
  firstAgentIndex: number;
  /** The agents' image: fieldtest's `dockerfiles/<image>.Dockerfile`, from the fieldtest the provider loads. */
  image: string;
  hosts: Array<{ user: string; host: string; port: number; hostKey: string }>;
  operatorPrivateKey: string;
  clientPrivateKey: string;
  clientPublicKey: string;
}

const SECRET_INPUTS = ["operatorPrivateKey", "clientPrivateKey"];

/**
 * The provider is serialized into the stack state, and every later `up` and `destroy` runs that
 * stored copy, perhaps from a moved checkout or another machine: so it captures no path. It runs in
 * Pulumi's own Node process, which knows neither tsx nor this package, started in the folder of the
 * project's `main`; from there it finds fieldtest by name, as Node would: fieldtest's checkout names
 * itself (package.json `exports`), and a project that installs it has node_modules/fieldtest. A
 * checkout runs its `.ts` sources through its own tsx; an installed package ships only build/.
 * Only `import()` of Node's modules: the closure serializer cannot capture a module's functions.
 */
async function loadFleetModule(): Promise<{ fleet: typeof import("../src/targets/ssh-hosts/fleet.ts"); dockerfilesDir: string }> {
  const { createRequire } = await import("node:module");
  const { existsSync } = await import("node:fs");
  const { dirname, join } = await import("node:path");
  const { pathToFileURL } = await import("node:url");
  const fromProject = createRequire(join(process.cwd(), "package.json"));
  let root: string;
  try {
    root = dirname(fromProject.resolve("fieldtest/package.json"));
  } catch (error) {
    throw new Error(`the ssh target's provider cannot find the fieldtest package from ${process.cwd()}, where Pulumi runs it (${(error as Error).message}): run Pulumi from fieldtest's checkout or from a project that installs fieldtest`);
  }
  const source = join(root, "src", "targets", "ssh-hosts", "fleet.ts");
  let file = join(root, "build", "src", "targets", "ssh-hosts", "fleet.js");
  if (existsSync(source)) {
    // What Pulumi.yaml's `--import tsx` does for the program.
    await import(pathToFileURL(createRequire(join(root, "package.json")).resolve("tsx")).href);
    file = source;
  }
  return { fleet: await import(pathToFileURL(file).href), dockerfilesDir: join(root, "dockerfiles") };
}

const provider: pulumi.dynamic.ResourceProvider<SshAgentsInputs> = {
  async create(inputs) {
    // The agents' containers count their TTL from their creation, which is now.
    const ttlSeconds = Math.ceil((Date.parse(inputs.expiresAt) - Date.now()) / 1000);
    if (!(ttlSeconds > 0)) throw new Error(`fieldtest:expiresAt ${inputs.expiresAt} has passed: extend it before creating agents`);
    const { fleet, dockerfilesDir } = await loadFleetModule();
    const inventory = await fleet.upSshHosts({
      namespace: inputs.namespace,
      groups: [{ name: DEFAULT_GROUP, count: inputs.count, image: inputs.image, firstIndex: inputs.firstAgentIndex }],
      ttlSeconds,
      portsPerAgent: inputs.portsPerAgent,
      owner: inputs.owner,
      clientKey: { privateKey: inputs.clientPrivateKey, publicKey: inputs.clientPublicKey },
      images: { projectDirs: [], fieldtestDir: dockerfilesDir },
      progress: { step() {} },
      hosts: fleet.pinnedHostAccess(inputs.hosts, inputs.operatorPrivateKey),
    });
    return { id: inputs.namespace, outs: { ...inputs, inventory } };
  },
  async delete(_id, props: SshAgentsInputs) {
    const { fleet } = await loadFleetModule();
    await fleet.destroySshFleet(fleet.pinnedHostAccess(props.hosts, props.operatorPrivateKey), props.namespace, false);
  },
  async diff(_id, olds: SshAgentsInputs, news: SshAgentsInputs) {
    const keys = ["namespace", "owner", "expiresAt", "portsPerAgent", "count", "firstAgentIndex", "image", "hosts", "operatorPrivateKey", "clientPrivateKey"] as const;
    const replaces = keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
    // The old agents go first: the new ones take the same names, labels and port slices.
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
};

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** The agent on one SSH host, created and removed by src/targets/ssh-hosts/fleet.ts. */
export class SshAgents extends pulumi.dynamic.Resource {
  declare readonly inventory: pulumi.Output<unknown>;

  constructor(name: string, inputs: Inputs<SshAgentsInputs>, opts: pulumi.CustomResourceOptions) {
    super(provider, name, { ...inputs, inventory: undefined }, { ...opts, additionalSecretOutputs: SECRET_INPUTS });
  }
}

export interface SshFleetArgs {
  config: SshStackConfig;
}

async function operatorKey(config: SshStackConfig): Promise<pulumi.Output<string>> {
  if ("secret" in config.sshPrivateKey) return pulumi.secret(config.sshPrivateKey.secret);
  const file = config.sshPrivateKey.path;
  const text = await readFile(file, "utf8").catch((error: Error) => {
    throw new Error(`fieldtest:sshKeyPath: ${file} cannot be read (${error.message}): set fieldtest:sshKeyPath, or the secret fieldtest:sshPrivateKey`);
  });
  return pulumi.secret(text);
}

/** Each host's pinned key: its `hostKey`, else its line in the known_hosts file; never trust on first use. */
async function hostsWithKeys(config: SshStackConfig): Promise<SshAgentsInputs["hosts"]> {
  return Promise.all(
    config.sshHosts.map(async ({ hostKey, ...host }) => ({
      ...host,
      hostKey:
        hostKey ??
        (await knownHostKey(config.sshKnownHosts, host).catch((error: Error) => {
          throw new Error(`fieldtest:sshHosts: ${error.message}, or give the host's hostKey in the stack config`);
        })),
    })),
  );
}

/** Every agent's group, read from its name (src/core/naming.ts) where the provisioner left it out. */
function withGroups(inventory: Inventory): Inventory {
  return { ...inventory, agents: inventory.agents.map((agent) => ({ ...agent, group: agent.group ?? parseAgentName(agent.name)?.group ?? DEFAULT_GROUP })) };
}

/** `ops@192.0.2.11:2222` → `ops-192.0.2.11-2222`: a host's part of its resource's name. */
function resourceNameOf(host: { user: string; host: string; port: number }): string {
  return `${host.user}-${host.host}-${host.port}`.replace(/[^A-Za-z0-9.-]/g, "-");
}

export class SshFleet extends pulumi.ComponentResource {
  readonly inventory: pulumi.Output<Inventory>;
  readonly clientPrivateKey: pulumi.Output<string>;

  private constructor(name: string, args: SshFleetArgs, hosts: SshAgentsInputs["hosts"], operatorPrivateKey: pulumi.Output<string>) {
    super("fieldtest:ssh:Fleet", name, {}, {});
    const { config } = args;
    const clientKey = ed25519Key(`${name}-client`, this);
    const agents = hosts.map(
      (host, index) =>
        new SshAgents(
          `${name}-agent-${resourceNameOf(host)}`,
          {
            namespace: config.namespace,
            owner: config.owner,
            expiresAt: config.expiresAt.toISOString(),
            portsPerAgent: config.portsPerAgent,
            count: 1,
            firstAgentIndex: index,
            image: config.image,
            hosts: [host],
            operatorPrivateKey,
            clientPrivateKey: clientKey.privateKeyOpenssh,
            clientPublicKey: clientKey.publicKeyOpenssh.apply(openSshPublicKeyLine),
          },
          { parent: this },
        ),
    );
    this.inventory = pulumi.all(agents.map((agent) => agent.inventory)).apply((parts) =>
      parseInventory(
        {
          namespace: config.namespace,
          target: "ssh",
          createdAt: config.createdAt.toISOString(),
          expiresAt: config.expiresAt.toISOString(),
          agents: parts.flatMap((part) => withGroups(parseInventory(part, "the inventory of an ssh host's agent")).agents),
        },
        "the inventory of the ssh agents",
      ),
    );
    this.clientPrivateKey = clientKey.privateKeyOpenssh;
    this.registerOutputs({ inventory: this.inventory });
  }

  /** Reads the hosts' keys and the operator's key first: a missing one fails before any resource. */
  static async create(name: string, args: SshFleetArgs): Promise<SshFleet> {
    const [hosts, key] = await Promise.all([hostsWithKeys(args.config), operatorKey(args.config)]);
    return new SshFleet(name, args, hosts, key);
  }
}
