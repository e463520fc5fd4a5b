import { readFile } from "node:fs/promises";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseInventory, type Inventory } from "../src/core/inventory.ts";
import { DEFAULT_GROUP } from "../src/core/naming.ts";
import { knownHostKey } from "../src/ssh-hosts/host-spec.ts";
import type { SshStackConfig } from "./config.ts";
import { ed25519Key, openSshPublicKeyLine } from "./keys.ts";

/**
 * The ssh target: agents as containers on machines that already exist, reached over SSH. All
 * the work is done by the plain functions of src/ssh-hosts/fleet.ts, which `fieldtest up
 * --ssh-host` uses too and which are tested end to end against a real sshd; this is only a thin
 * Pulumi wrapper, a dynamic resource whose create and delete call them.
 */

/** What the dynamic resource is given, and keeps in the stack state (the keys as secrets). */
export interface SshAgentsInputs {
  namespace: string;
  owner: string;
  ttlSeconds: number;
  portsPerAgent: number;
  /** One agent per host. */
  count: number;
  image: { dockerfilesDir: string; alias: string };
  hosts: Array<{ user: string; host: string; port: number; hostKey: string }>;
  operatorPrivateKey: string;
  clientPrivateKey: string;
  clientPublicKey: string;
  /** When `pulumi up` ran: every update starts a new TTL, so it replaces the agents, as on the clouds. */
  requestedAt: string;
}

// The dynamic provider runs in Pulumi's own Node process, which knows neither tsx nor this
// package's module paths: the provider registers tsx and imports the plain functions by URL.
const FLEET_MODULE = new URL("../src/ssh-hosts/fleet.ts", import.meta.url).href;
const TSX_API = import.meta.resolve("tsx/esm/api");

const SECRET_INPUTS = ["operatorPrivateKey", "clientPrivateKey"];

async function loadFleetModule(): Promise<typeof import("../src/ssh-hosts/fleet.ts")> {
  const { register } = await import(TSX_API);
  register();
  return import(FLEET_MODULE);
}

const provider: pulumi.dynamic.ResourceProvider<SshAgentsInputs> = {
  async create(inputs) {
    const { pinnedHostAccess, upSshHosts } = await loadFleetModule();
    const inventory = await upSshHosts({
      namespace: inputs.namespace,
      groups: [{ name: DEFAULT_GROUP, count: inputs.count, image: inputs.image.alias }],
      ttlSeconds: inputs.ttlSeconds,
      portsPerAgent: inputs.portsPerAgent,
      owner: inputs.owner,
      clientKey: { privateKey: inputs.clientPrivateKey, publicKey: inputs.clientPublicKey },
      images: { projectDirs: [], fieldtestDir: inputs.image.dockerfilesDir },
      progress: { step() {} },
      hosts: pinnedHostAccess(inputs.hosts, inputs.operatorPrivateKey),
    });
    return { id: inputs.namespace, outs: { ...inputs, inventory } };
  },
  async delete(_id, props: SshAgentsInputs) {
    const { destroySshFleet, pinnedHostAccess } = await loadFleetModule();
    await destroySshFleet(pinnedHostAccess(props.hosts, props.operatorPrivateKey), props.namespace, false);
  },
  async diff(_id, olds: SshAgentsInputs, news: SshAgentsInputs) {
    const keys = ["namespace", "owner", "ttlSeconds", "portsPerAgent", "count", "image", "hosts", "operatorPrivateKey", "clientPrivateKey", "requestedAt"] as const;
    const replaces = keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
    // The old agents go first: the new ones take the same names, labels and port slices.
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
};

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** The agents on the SSH hosts, created and removed by src/ssh-hosts/fleet.ts. */
export class SshAgents extends pulumi.dynamic.Resource {
  declare readonly inventory: pulumi.Output<unknown>;

  constructor(name: string, inputs: Inputs<SshAgentsInputs>, opts: pulumi.CustomResourceOptions) {
    super(provider, name, { ...inputs, inventory: undefined }, { ...opts, additionalSecretOutputs: SECRET_INPUTS });
  }
}

export interface SshFleetArgs {
  config: SshStackConfig;
  /** Absolute: the provider builds the image on each host from here, in another process. */
  dockerfilesDir: string;
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

export class SshFleet extends pulumi.ComponentResource {
  readonly inventory: pulumi.Output<Inventory>;
  readonly clientPrivateKey: pulumi.Output<string>;

  private constructor(name: string, args: SshFleetArgs, hosts: SshAgentsInputs["hosts"], operatorPrivateKey: pulumi.Output<string>) {
    super("fieldtest:ssh:Fleet", name, {}, {});
    const { config } = args;
    const clientKey = ed25519Key(`${name}-client`, this);
    const agents = new SshAgents(
      `${name}-agents`,
      {
        namespace: config.namespace,
        owner: config.owner,
        ttlSeconds: config.ttlSeconds,
        portsPerAgent: config.portsPerAgent,
        count: hosts.length,
        image: { dockerfilesDir: path.resolve(args.dockerfilesDir), alias: config.image },
        hosts,
        operatorPrivateKey,
        clientPrivateKey: clientKey.privateKeyOpenssh,
        clientPublicKey: clientKey.publicKeyOpenssh.apply(openSshPublicKeyLine),
        requestedAt: config.createdAt.toISOString(),
      },
      { parent: this },
    );
    this.inventory = agents.inventory.apply((value) => parseInventory(value, "the inventory of the ssh agents"));
    this.clientPrivateKey = clientKey.privateKeyOpenssh;
    this.registerOutputs({ inventory: this.inventory });
  }

  /** Reads the hosts' keys and the operator's key first: a missing one fails before any resource. */
  static async create(name: string, args: SshFleetArgs): Promise<SshFleet> {
    const [hosts, key] = await Promise.all([hostsWithKeys(args.config), operatorKey(args.config)]);
    return new SshFleet(name, args, hosts, key);
  }
}
