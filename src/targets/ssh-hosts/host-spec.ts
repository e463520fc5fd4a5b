import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";

/** A machine fieldtest logs in to with plain SSH to run agent containers on its Docker engine. */
export interface SshHost {
  user: string;
  host: string;
  port: number;
}

/** `root@h1:22`, `h1:2222` or `h1`; the user defaults to root and the port to 22. */
export function parseSshHost(text: string): SshHost {
  const match = /^(?:([a-z_][a-z0-9_.-]*)@)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = Number(match?.[3] ?? 22);
  if (!match || port < 1 || port > 65535) {
    throw new Error(`--ssh-host "${text}" is not [user@]host[:port], e.g. root@10.0.0.5:22`);
  }
  return { user: match[1] ?? "root", host: match[2]!.replace(/^\[|\]$/g, ""), port };
}

export function formatSshHost({ user, host, port }: SshHost): string {
  return `${user}@${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The host names OpenSSH writes for this host in known_hosts: `h` on 22, `[h]:port` otherwise. */
function knownHostsName({ host, port }: SshHost): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function hostPatternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  return pattern === name;
}

/**
 * The host's key from an OpenSSH known_hosts file, so fieldtest pins SSH hosts just as
 * OpenSSH would; a host that is not there is refused, never trusted on first use.
 */
export async function knownHostKey(knownHostsFile: string, host: SshHost): Promise<string> {
  const text = await readFile(knownHostsFile, "utf8").catch((error: Error) => {
    throw new Error(`--ssh-known-hosts ${knownHostsFile} cannot be read: ${error.message}`);
  });
  const name = knownHostsName(host);
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith("#") || fields[0]!.startsWith("@")) continue;
    const [patterns, type, blob] = fields as [string, string, string];
    if (patterns.split(",").some((pattern) => hostPatternMatches(pattern, name))) return `${type} ${blob}`;
  }
  throw new Error(
    `${formatSshHost(host)} has no key in ${knownHostsFile}: check its fingerprint, then add it, e.g. \`ssh-keyscan -p ${host.port} ${host.host} >> ${knownHostsFile}\``,
  );
}
