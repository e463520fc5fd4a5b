import { posix } from "node:path";
import { execOnConnection } from "./exec.ts";
import { quoteArg } from "./quote.ts";
import type { SshConnection } from "./ssh-connection.ts";

// A namespace's state on a host reached over SSH: SSH hosts' targets remove it, runner homes stage into it.

/** Where a namespace keeps its state on a host: under the SSH user's home, as on this machine. */
export function hostNamespaceDir(hostHome: string, namespace: string): string {
  return posix.join(hostHome, ".fieldtest", "namespaces", namespace);
}

/** The SSH user's home on the host. */
export async function hostHome(ssh: SshConnection, label: string): Promise<string> {
  const home = (await execOnConnection(ssh, label, 'printf %s "$HOME"')).stdout;
  if (!home.startsWith("/")) throw new Error(`${label}: the SSH user's $HOME is "${home}", not an absolute path; set one in the host's passwd`);
  return home;
}

/** Removes a namespace's state on a host (staged files, runs' directories); what runs from them is gone first. */
export async function removeHostNamespaceDir(ssh: SshConnection, label: string, namespace: string): Promise<void> {
  const dir = hostNamespaceDir(await hostHome(ssh, label), namespace);
  await execOnConnection(ssh, label, `rm -rf ${quoteArg(dir)}`);
}
