import Docker from "dockerode";
import { publicKeyBlob } from "../../transport/keys.ts";
import type { Progress } from "../../core/progress.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { SshConnection } from "../../transport/ssh-connection.ts";
import { formatSshHost, type SshHost } from "./host-spec.ts";

export interface HostAccess {
  host: SshHost;
  /** The host's pinned key, `type base64`. */
  hostKey: string;
  /** The operator's private key that the host accepts. */
  privateKey: string;
}

/** An SSH connection to the host itself (not an agent), its key pinned. */
export function hostConnection(access: HostAccess): SshConnection {
  const { host, hostKey, privateKey } = access;
  return new SshConnection({ label: formatSshHost(host), host: host.host, port: host.port, user: host.user, hostKey, privateKey });
}

/**
 * Makes sure the host has a running Docker engine: installs Debian's docker.io when the
 * command is missing and starts the daemon when it does not answer.
 */
export async function ensureDockerOnHost(access: HostAccess, progress: Progress): Promise<void> {
  const ssh = hostConnection(access);
  const label = formatSshHost(access.host);
  const sudo = access.host.user === "root" ? "" : "sudo -n ";
  try {
    const run = (command: string, timeoutMs = 600_000) => execOnConnection(ssh, label, command, { timeoutMs });
    const hasDocker = await execOnConnection(ssh, label, "command -v docker && command -v dockerd", { allowFailure: true });
    if (hasDocker.code !== 0) {
      progress.step(`${label}: installing docker.io from the host's packages`);
      await run(`${sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${sudo}apt-get install -y -qq docker.io`);
    }
    if ((await execOnConnection(ssh, label, `${sudo}docker info`, { allowFailure: true })).code !== 0) {
      progress.step(`${label}: starting dockerd`);
      await run(
        `${sudo}systemctl start docker 2>/dev/null || ${sudo}sh -c 'nohup dockerd >/var/log/fieldtest-dockerd.log 2>&1 &'; ` +
          `for i in $(seq 1 120); do ${sudo}docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; echo "dockerd did not start" >&2; exit 1`,
      );
    }
  } finally {
    ssh.close();
  }
}

/** The host's Docker Engine API, tunnelled through SSH with the host key pinned. */
export function remoteDocker(access: HostAccess): Docker {
  const pinned = publicKeyBlob(access.hostKey);
  return new Docker({
    protocol: "ssh",
    host: access.host.host,
    port: access.host.port,
    username: access.host.user,
    sshOptions: { privateKey: access.privateKey, hostVerifier: (key: Buffer) => key.equals(pinned) },
  } as Docker.DockerOptions);
}
