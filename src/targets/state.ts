import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Inventory } from "../core/inventory.ts";
import { generateEd25519KeyPair, knownHostsLine, publicKeyOf, type SshKeyPair } from "../transport/keys.ts";
import type { Namespace } from "../core/namespace.ts";

/**
 * Where fieldtest keeps what must outlive one command: per-namespace client keys and the
 * known_hosts file of pinned agent keys. `FIELDTEST_HOME` wins (tests use a temp dir),
 * then `$XDG_STATE_HOME/fieldtest`, then `~/.local/state/fieldtest`.
 */
export function stateHome(env: NodeJS.ProcessEnv): string {
  if (env.FIELDTEST_HOME) return env.FIELDTEST_HOME;
  const xdg = env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");
  return join(xdg, "fieldtest");
}

/** Names of the namespaces that have a state directory under `home`, sorted; none when it does not exist yet. */
export async function namespacesInState(home: string): Promise<string[]> {
  const dir = join(home, "namespaces");
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw new Error(`the state directory ${dir} cannot be read (${error.message}): fix its permissions, or point FIELDTEST_HOME elsewhere`);
  });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}

export class NamespaceState {
  readonly dir: string;
  readonly clientKeyPath: string;
  readonly knownHostsPath: string;
  /** The namespace's target and that target's record: `{ target, record }` (see targets/registry.ts). */
  readonly targetRecordPath: string;
  /** Older fieldtests' records, read when there is no target record: a fleet on SSH hosts, a Pulumi stack. */
  readonly legacySshFleetPath: string;
  readonly legacyPulumiStackPath: string;
  /** Localhost agents mount it read-only: copies to them are staged here. */
  readonly inboxPath: string;
  /** When the namespace's fleet expires (unix seconds), so that `reap` knows when its state may go. */
  readonly expiryPath: string;

  constructor(home: string, readonly namespace: Namespace) {
    this.dir = join(home, "namespaces", namespace);
    this.clientKeyPath = join(this.dir, "id_ed25519");
    this.knownHostsPath = join(this.dir, "known_hosts");
    this.targetRecordPath = join(this.dir, "target.json");
    this.legacySshFleetPath = join(this.dir, "ssh-fleet.json");
    this.legacyPulumiStackPath = join(this.dir, "pulumi-stack.json");
    this.inboxPath = join(this.dir, "inbox");
    this.expiryPath = join(this.dir, "expires-at");
  }

  /** The inbox directory, made (private to this user) before agents mount it. */
  async inbox(): Promise<string> {
    await mkdir(this.inboxPath, { recursive: true, mode: 0o700 });
    return this.inboxPath;
  }

  /** The namespace's client key pair, created on first use with 0600 permissions. */
  async clientKey(): Promise<SshKeyPair> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const fresh = generateEd25519KeyPair(`fieldtest-${this.namespace}`);
    try {
      // "wx": when two commands of one namespace race, the first key written is everyone's key.
      await writeFile(this.clientKeyPath, fresh.privateKey, { mode: 0o600, flag: "wx" });
      await writeFile(`${this.clientKeyPath}.pub`, `${fresh.publicKey}\n`, { mode: 0o644 });
      return fresh;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const privateKey = await readFile(this.clientKeyPath, "utf8");
    return { privateKey, publicKey: publicKeyOf(privateKey, this.clientKeyPath) };
  }

  /** The key of a namespace some earlier command created; never makes a new one. */
  async existingPrivateKey(): Promise<string> {
    try {
      return await readFile(this.clientKeyPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      throw new MissingClientKeyError(
        `no client key for namespace ${this.namespace} at ${this.clientKeyPath}: the fleet was made elsewhere or with another FIELDTEST_HOME; pass --ssh-key <private key file>`,
      );
    }
  }

  /** Writes the agents' pinned host keys where `ssh -o UserKnownHostsFile=…` can use them. */
  async writeKnownHosts(inventory: Inventory): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.knownHostsPath, knownHostsText(inventory), { mode: 0o600 });
  }

  async writeTargetRecord(record: TargetRecord): Promise<void> {
    await this.writeRecord(this.targetRecordPath, record);
  }

  /**
   * The namespace's `{ target, record }`, unchecked (the registry checks it against the target's
   * schema), or undefined when it has none. Namespaces made by an older fieldtest kept
   * `ssh-fleet.json` or `pulumi-stack.json` instead: they are read as the same pair.
   */
  async readTargetRecord(): Promise<TargetRecord | undefined> {
    const current = await this.readRecord(this.targetRecordPath);
    if (current !== undefined) return parseTargetRecord(current, this.targetRecordPath);
    const [ssh, stack] = await Promise.all([this.readRecord(this.legacySshFleetPath), this.readRecord(this.legacyPulumiStackPath)]);
    if (ssh !== undefined && stack !== undefined) {
      throw new Error(`namespace ${this.namespace} has both ${this.legacyPulumiStackPath} and ${this.legacySshFleetPath}: remove the one that is stale`);
    }
    if (ssh !== undefined) return legacyRecord(ssh, "ssh", this.legacySshFleetPath);
    if (stack !== undefined) {
      const cloud = (stack as { cloud?: unknown }).cloud;
      if (typeof cloud !== "string") throw new Error(`${this.legacyPulumiStackPath}: "cloud" is missing; it names the stack's cloud (gcp or aws): fix the file, or remove it if the stack is gone`);
      return legacyRecord(stack, cloud, this.legacyPulumiStackPath);
    }
    return undefined;
  }

  async removeTargetRecord(): Promise<void> {
    await Promise.all([this.targetRecordPath, this.legacySshFleetPath, this.legacyPulumiStackPath].map((path) => rm(path, { force: true })));
  }

  async writeExpiry(expiresAt: Date): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.expiryPath, `${Math.floor(expiresAt.getTime() / 1000)}\n`, { mode: 0o600 });
  }

  /** Undefined for a namespace whose state holds no expiry (made by an older fieldtest). */
  async readExpiry(): Promise<Date | undefined> {
    const text = await readFile(this.expiryPath, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    return text !== undefined && /^\d+$/.test(text.trim()) ? new Date(Number(text.trim()) * 1000) : undefined;
  }

  /** Replaces the client key with the one a Pulumi stack generated and exports. */
  async writeClientKey(privateKey: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.clientKeyPath, privateKey, { mode: 0o600 });
    await writeFile(`${this.clientKeyPath}.pub`, `${publicKeyOf(privateKey, "the stack's clientPrivateKey")}\n`, { mode: 0o644 });
  }

  private async writeRecord(path: string, record: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(path, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  }

  private async readRecord(path: string): Promise<unknown> {
    const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    return text === undefined ? undefined : JSON.parse(text);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** An OpenSSH known_hosts file pinning every agent's host key. */
export function knownHostsText(inventory: Inventory): string {
  return inventory.agents.map((a) => knownHostsLine(a.host, a.sshPort, a.hostKey)).join("\n") + "\n";
}

export class MissingClientKeyError extends Error {}

/** What a namespace's `target.json` holds: which target it is, and that target's own record. */
export interface TargetRecord {
  target: string;
  record: unknown;
}

function parseTargetRecord(json: unknown, path: string): TargetRecord {
  const { target, record } = (json ?? {}) as Partial<TargetRecord>;
  if (typeof target !== "string" || target === "") throw new Error(`${path}: "target" must name the namespace's target; fix the file, or remove the namespace's state directory if its fleet is gone`);
  return { target, record };
}

/** An older record, which held the target beside its fields (`"target": "ssh"`, or `"pulumi"` with `"cloud"`). */
function legacyRecord(json: unknown, target: string, path: string): TargetRecord {
  if (typeof json !== "object" || json === null) throw new Error(`${path} is not a JSON object: fix the file, or remove it if its fleet is gone`);
  const { target: _kind, cloud: _cloud, ...record } = json as { target?: unknown; cloud?: unknown };
  return { target, record };
}
