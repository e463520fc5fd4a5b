// Cloud VM stand-ins (test/vm-boot.test.ts): Debian containers with systemd as PID 1 and a Docker
// engine inside, which run a cloud's boot script the way that cloud's VM runs it, and a registry
// of Debian's docker-registry package standing in for Artifact Registry and ECR. The image is
// built from test/fixtures/vm-standin/ and tagged by a hash of it, so a machine builds it once.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import type { Test } from "tap";
import { imageContentTag, imageContextFiles } from "../../src/core/image-catalog.ts";
import { followBuild } from "../../src/targets/docker-engine/image.ts";
import { isNotFound } from "../../src/targets/docker-engine/docker.ts";
import { knownHostsLine } from "../../src/transport/keys.ts";
import { ROOT } from "./fleet.ts";

const run = promisify(execFile);
const STANDIN_CONTEXT = { dir: join(ROOT, "test", "fixtures", "vm-standin"), alias: "vm-standin" };
const STANDIN_REPOSITORY = "fieldtest-vm-standin";
/** Labels every container a test makes, so its teardown removes exactly those. */
const TEST_LABEL = "fieldtest-test";

/**
 * What the stand-in needs from an engine that refuses --privileged, and why:
 * - CAP_SYS_ADMIN: its init remounts the cgroup hierarchies writable (systemd and the inner Docker
 *   engine create cgroups), and the inner engine mounts its containers' file systems.
 * - CAP_NET_ADMIN: the inner engine makes bridges and iptables rules; the stand-in servers take
 *   the metadata server's address, 169.254.169.254, on the loopback.
 * - a private cgroup namespace: the remounted hierarchies show only the stand-in's own subtree.
 * - tmpfs on /run and /run/lock: systemd expects them empty at each boot, as after a reboot.
 * - a volume on /var/lib/docker: the inner engine's overlay2 cannot sit on the outer overlay, and
 *   the volume is the VM's disk, kept across a reboot (`docker restart`).
 * The engine's default seccomp profile stays: the inner engine's runc is told to do without the
 * two calls it refuses (test/fixtures/vm-standin/runc-no-new-keyring.sh).
 */
const STANDIN_FLAGS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cgroupns", "private", "--tmpfs", "/run", "--tmpfs", "/run/lock", "--volume", "/var/lib/docker"];

export async function docker(args: readonly string[], timeoutMs = 300_000): Promise<string> {
  const { stdout } = await run("docker", args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** Builds the stand-in image unless this version of it exists. */
export async function ensureStandinImage(engine: Docker, step: (message: string) => void): Promise<string> {
  const tag = `${STANDIN_REPOSITORY}:${imageContentTag(STANDIN_CONTEXT)}`;
  try {
    await engine.getImage(tag).inspect();
    return tag;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  step(`building ${tag} (first run only)`);
  const stream = await engine.buildImage({ context: STANDIN_CONTEXT.dir, src: imageContextFiles(STANDIN_CONTEXT) }, { t: tag, dockerfile: "vm-standin.Dockerfile" });
  await followBuild(engine, stream);
  return tag;
}

/** A run's label value: the containers of one test file, removed with their volumes when it ends. */
export function testLabel(t: Test): string {
  const label = `vm-boot-${process.pid}`;
  t.teardown(async () => {
    const ids = (await docker(["ps", "-aq", "--filter", `label=${TEST_LABEL}=${label}`])).split("\n").filter(Boolean);
    // Stopped first (systemd shuts down, the inner engine with it), then removed with their disks.
    if (ids.length > 0) await docker(["stop", "--time", "30", ...ids]);
    if (ids.length > 0) await docker(["rm", "-v", ...ids]);
  });
  return label;
}

export interface StandinRegistry {
  /** Its address on the engine's bridge, where the stand-ins' /etc/hosts send the registries' names. */
  ip: string;
  /** Pushes `image` as `<path>` (repository and tag) and returns its manifest digest, `sha256:…`. */
  push(image: string, path: string): Promise<string>;
}

export async function startRegistry(label: string, image: string): Promise<StandinRegistry> {
  const id = await docker(["run", "-d", "--label", `${TEST_LABEL}=${label}`, "--publish", "127.0.0.1::443", image, "/usr/bin/docker-registry", "serve", "/etc/standin/registry.yml"]);
  const ip = await docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id]);
  // This engine pushes to the loopback port, which it treats as an insecure registry: the stand-in's CA is not its own.
  const address = (await docker(["port", id, "443/tcp"])).split("\n")[0]!;
  return {
    ip,
    async push(source, path) {
      const target = `${address}/${path}`;
      await docker(["tag", source, target]);
      try {
        const output = await docker(["push", target], 600_000);
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
        if (!digest) throw new Error(`no digest in the output of docker push ${target}:\n${output}`);
        return digest;
      } finally {
        await docker(["rmi", target]);
      }
    },
  };
}

export interface StandinSpec {
  label: string;
  image: string;
  /** Names the stand-in resolves (its /etc/hosts): the cloud's API and registry names. */
  hosts: Record<string, string>;
  /** Files in place before the first boot, by absolute path: the stand-in servers' config, cloud-init's seed. */
  files: Record<string, string>;
}

/** A stand-in VM, created with its files and not started. */
export class Standin {
  private constructor(readonly id: string) {}

  static async create(spec: StandinSpec): Promise<Standin> {
    const hosts = Object.entries(spec.hosts).flatMap(([name, ip]) => ["--add-host", `${name}:${ip}`]);
    const id = await docker(["create", "--label", `${TEST_LABEL}=${spec.label}`, ...STANDIN_FLAGS, ...hosts, spec.image]);
    const dir = await mkdtemp(join(tmpdir(), "fieldtest-standin-"));
    try {
      // One by one, into folders the image has: the engine copies no tree into a created container's root.
      for (const [i, [path, text]] of Object.entries(spec.files).entries()) {
        await writeFile(join(dir, String(i)), text, { mode: 0o600 });
        await docker(["cp", join(dir, String(i)), `${id}:${path}`]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return new Standin(id);
  }

  async start(): Promise<void> {
    await docker(["start", this.id]);
  }

  /** A reboot: systemd shuts down (the stop signal is SIGRTMIN+3), the container starts again with its disk. */
  async reboot(): Promise<void> {
    await docker(["restart", "--time", "60", this.id], 180_000);
  }

  /** Its address on the engine's bridge (a restart may change it). */
  async ip(): Promise<string> {
    return docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", this.id]);
  }

  async state(): Promise<{ running: boolean; finishedAt: Date }> {
    const [running, finishedAt] = (await docker(["inspect", "-f", "{{.State.Running}} {{.State.FinishedAt}}", this.id])).split(" ");
    return { running: running === "true", finishedAt: new Date(finishedAt!) };
  }

  async exec(command: string): Promise<string> {
    return docker(["exec", this.id, "sh", "-c", command]);
  }
}

/**
 * Runs `command` as root on the agent's sshd (port 30000 of the stand-in, whose network the agent
 * shares), trusting only `hostKey`, the key the program pinned. Rejects on any failure.
 */
export async function sshToAgent(host: string, hostKey: string, clientKey: string, command: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-standin-ssh-"));
  try {
    await writeFile(join(dir, "known_hosts"), `${knownHostsLine(host, 30000, hostKey)}\n`);
    await writeFile(join(dir, "client_key"), clientKey, { mode: 0o600 });
    const { stdout } = await run(
      "ssh",
      ["-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i", join(dir, "client_key"), "-p", "30000", `root@${host}`, command],
      { timeout: 20_000 },
    );
    return stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
