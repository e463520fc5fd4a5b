import t from "tap";
import { AGENT_CAPABILITIES, DEFAULT_AGENT_MEMORY_BYTES, DEFAULT_AGENT_PIDS_LIMIT } from "../src/targets/docker-engine/hardening.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

/** capability(7) numbers of the names fieldtest uses. */
const CAPABILITY_BITS: Record<string, number> = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8,
  NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13, SYS_CHROOT: 18, SYS_ADMIN: 21, MKNOD: 27, AUDIT_WRITE: 29, SETFCAP: 31,
};

function capabilityNames(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return Object.entries(CAPABILITY_BITS)
    .filter(([, bit]) => (mask >> BigInt(bit)) & 1n)
    .map(([name]) => name)
    .sort();
}

const docker = await requireDocker(t);
if (docker) {
  // On the host's network, where a raw socket would see the host's loopback traffic.
  const fleet = await testFleet(t, docker, 1, { portsPerAgent: 2, network: "host" });
  const [agent] = fleet.cloud.agents;

  t.test("a host-network agent has only the capabilities it needs, no new privileges, and no raw sockets", async (t) => {
    const status = (await agent!.exec(["cat", "/proc/self/status"])).stdout;
    const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, "m").exec(status)?.[1] ?? "";
    t.same(capabilityNames(field("CapBnd")), [...AGENT_CAPABILITIES].sort(), "bounding set is exactly the listed capabilities");
    t.notOk(capabilityNames(field("CapEff")).includes("NET_RAW"), "no NET_RAW in effect");
    t.equal(field("NoNewPrivs"), "1", "no-new-privileges");
    const raw = await agent!.exec(["busybox", "arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1"], { allowFailure: true });
    t.not(raw.code, 0, "a raw (packet) socket cannot be opened");
    t.match(raw.stderr, /Operation not permitted/);
    const lowPort = await agent!.exec(["busybox", "nc", "-l", "-p", "81"], { allowFailure: true, timeoutMs: 2000 }).catch((e: Error) => e);
    t.match(lowPort instanceof Error ? lowPort.message : lowPort.stderr, /Permission denied/, "ports below 1024 cannot be bound");
  });

  t.test("an agent on its own network also has NET_ADMIN and NET_RAW, for faults in its own namespace only", async (t) => {
    const own = await testFleet(t, docker, 1, { network: "own" });
    const status = (await own.cloud.agents[0]!.exec(["cat", "/proc/self/status"])).stdout;
    const bounding = new RegExp("^CapBnd:\\s+(\\S+)$", "m").exec(status)?.[1] ?? "";
    t.same(capabilityNames(bounding), [...AGENT_CAPABILITIES, "NET_ADMIN", "NET_RAW"].sort());
    t.match(status, /^NoNewPrivs:\s+1$/m, "no-new-privileges there too");
  });

  t.test("pids, memory and Docker log files are bounded", async (t) => {
    const [container] = await namespaceContainers(docker, fleet.namespace);
    const { HostConfig } = await docker.getContainer(container!.Id).inspect();
    t.equal(HostConfig.PidsLimit, DEFAULT_AGENT_PIDS_LIMIT);
    t.equal(HostConfig.Memory, DEFAULT_AGENT_MEMORY_BYTES);
    t.same(HostConfig.LogConfig, { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } });
    t.same(HostConfig.SecurityOpt, ["no-new-privileges:true"]);
    t.equal((await agent!.exec("cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max")).stdout.trim(), String(DEFAULT_AGENT_PIDS_LIMIT), "the kernel enforces the pids limit (cgroup v2 or v1)");
  });
}
