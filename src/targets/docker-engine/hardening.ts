/**
 * What an agent container may do beyond running its processes: the Linux capabilities sshd
 * and a scenario's commands need, no more, no privilege gained through setuid files, bounded
 * processes, memory and Docker log files. Spread into the container's HostConfig.
 */

/**
 * Kept from Docker's default set. sshd needs SETUID/SETGID (privilege separation) and
 * SYS_CHROOT (its pre-auth sandbox); root on the agent needs CHOWN, DAC_OVERRIDE, FOWNER
 * and FSETID to create and hand over files as another user (copy, chown), and KILL to stop
 * daemons started under other users. Dropped from the default set: NET_RAW (raw sockets:
 * an agent on the host network could sniff loopback, the website's credentials included),
 * NET_BIND_SERVICE (ports below 1024, outside any slice), MKNOD, AUDIT_WRITE, SETFCAP, SETPCAP.
 */
export const AGENT_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "SYS_CHROOT", "KILL"] as const;

/** Processes per agent: a fork bomb in one agent must not starve the machine's other agents. */
export const DEFAULT_AGENT_PIDS_LIMIT = 4096;
/** Memory per agent (no extra swap); a shape may set its own. */
export const DEFAULT_AGENT_MEMORY_BYTES = 4 * 1024 ** 3;
/** The agent's stdout/stderr kept by Docker: three files of 10 MB. */
export const AGENT_LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

export interface AgentHardeningOptions {
  /** Capabilities added for a purpose, e.g. NET_ADMIN for network faults. */
  extraCapabilities?: readonly string[];
  pidsLimit?: number;
  memoryBytes?: number;
}

export interface AgentHostConfig {
  CapDrop: string[];
  CapAdd: string[];
  SecurityOpt: string[];
  PidsLimit: number;
  Memory: number;
  MemorySwap: number;
  LogConfig: { Type: string; Config: Record<string, string> };
}

export function agentHardening(options: AgentHardeningOptions = {}): AgentHostConfig {
  const memory = options.memoryBytes ?? DEFAULT_AGENT_MEMORY_BYTES;
  const pids = options.pidsLimit ?? DEFAULT_AGENT_PIDS_LIMIT;
  if (!Number.isInteger(memory) || memory < 64 * 1024 ** 2) throw new RangeError(`agent memoryBytes must be an integer of at least 64 MiB, got ${memory}`);
  if (!Number.isInteger(pids) || pids < 64) throw new RangeError(`agent pidsLimit must be an integer of at least 64, got ${pids}`);
  return {
    CapDrop: ["ALL"],
    CapAdd: [...new Set([...AGENT_CAPABILITIES, ...(options.extraCapabilities ?? [])])],
    SecurityOpt: ["no-new-privileges:true"],
    PidsLimit: pids,
    Memory: memory,
    // Equal to Memory: no swap on top, so the limit is the limit.
    MemorySwap: memory,
    LogConfig: { Type: AGENT_LOG_CONFIG.Type, Config: { ...AGENT_LOG_CONFIG.Config } },
  };
}
