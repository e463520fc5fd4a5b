/**
 * `run --detach` runs this machine's node binary on the agent: it must be built for the agent's
 * system, which `uname -s -m` on the agent tells (GCP and AWS agents are Linux x86-64; a macOS
 * or arm64 laptop's node cannot run there).
 */

const PLATFORMS: Record<string, string> = { Linux: "linux", Darwin: "darwin", FreeBSD: "freebsd" };
const ARCHES: Record<string, string> = { x86_64: "x64", amd64: "x64", aarch64: "arm64", arm64: "arm64", armv7l: "arm", i686: "ia32" };

export class NodeBinaryError extends Error {}

/** Node's `process.platform` and `process.arch` for what `uname -s -m` printed, if it knows them. */
export function nodeSystemOfUname(uname: string): { platform: string; arch: string } | undefined {
  const [system, machine] = uname.trim().split(/\s+/);
  const platform = PLATFORMS[system ?? ""];
  const arch = ARCHES[machine ?? ""];
  return platform && arch ? { platform, arch } : undefined;
}

/** Refuses, before anything is sent, a node binary the host cannot run. */
export function assertNodeRunsOn(local: { platform: string; arch: string }, uname: string, label: string): void {
  const remote = nodeSystemOfUname(uname);
  if (remote && remote.platform === local.platform && remote.arch === local.arch) return;
  const theirs = remote ? `${remote.platform} ${remote.arch}` : `"${uname.trim().slice(0, 80)}"`;
  throw new NodeBinaryError(
    `run --detach runs this machine's node on ${label}, which is ${theirs}, but this node is built for ${local.platform} ${local.arch}. ` +
      `Start the detached run from a ${remote ? `${remote.platform} ${remote.arch}` : "Linux x86-64"} machine (a CI runner, or a VM of the same system), or run without --detach. Nothing was sent.`,
  );
}
