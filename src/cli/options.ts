import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { DEFAULT_PORTS_PER_AGENT } from "../targets/docker-engine/ports.ts";
import { DEFAULT_TTL, namespaceSchema, parseTtl, type Namespace } from "../core/namespace.ts";
import { DEFAULT_IMAGE } from "../core/defaults.ts";
import { IMAGE_ALIAS_PATTERN, isPublishedImage } from "../core/images.ts";
import { UsageError } from "./context.ts";

export const MAX_LOCALHOST_AGENTS = 200;

/** `--namespace`, else FIELDTEST_NAMESPACE; every message names the flag to fix. */
export function namespaceOption(value: string | undefined, env: NodeJS.ProcessEnv): Namespace | undefined {
  // An empty FIELDTEST_NAMESPACE counts as unset, as shells make it easy to export one.
  const raw = value ?? (env.FIELDTEST_NAMESPACE || undefined);
  if (raw === undefined) return undefined;
  const parsed = namespaceSchema.safeParse(raw);
  if (!parsed.success) {
    const source = value !== undefined ? "--namespace" : "FIELDTEST_NAMESPACE";
    throw new UsageError(`${source} "${raw}": ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  return parsed.data;
}

export function requireNamespace(value: string | undefined, env: NodeJS.ProcessEnv, command: string): Namespace {
  const namespace = namespaceOption(value, env);
  if (!namespace) throw new UsageError(`${command} needs --namespace <name> (or FIELDTEST_NAMESPACE)`);
  return namespace;
}

/** A fresh namespace for a throwaway `run --localhost`: `run-` and 6 hex digits. */
export function generatedNamespace(): Namespace {
  return `run-${randomBytes(3).toString("hex")}`;
}

export function ttlOption(value: string | undefined): number {
  try {
    return parseTtl(value ?? DEFAULT_TTL);
  } catch (error) {
    throw new UsageError(`--ttl: ${(error as Error).message}`);
  }
}

/** A TCP port number; from 0, 0 asks for a free one. */
export function portOption(flag: string, value: string, lowest: 0 | 1): number {
  if (!/^\d+$/.test(value) || Number(value) < lowest || Number(value) > 65535) {
    throw new UsageError(`${flag} "${value}" must be a port number from ${lowest} to 65535${lowest === 0 ? " (0 picks a free one)" : ""}`);
  }
  return Number(value);
}

export function positiveIntOption(flag: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} "${value}" must be a whole number of at least 1`);
  const number = Number(value);
  if (number > max) throw new UsageError(`${flag} ${number} is more than the maximum of ${max}`);
  return number;
}

export function agentCountOption(value: string | undefined, fallback: number): number {
  return positiveIntOption("--vms", value, fallback, MAX_LOCALHOST_AGENTS);
}

export function portsPerAgentOption(value: string | undefined): number {
  const ports = positiveIntOption("--ports-per-agent", value, DEFAULT_PORTS_PER_AGENT, 5000);
  if (ports < 2) throw new UsageError("--ports-per-agent must be at least 2: one for sshd, one for your daemons");
  return ports;
}

export function imageOption(value: string | undefined): string {
  const image = value ?? DEFAULT_IMAGE;
  if (!IMAGE_ALIAS_PATTERN.test(image) && !isPublishedImage(image)) {
    throw new UsageError(`--image "${image}" must name dockerfiles/<image>.Dockerfile (e.g. debian) or a published image such as ghcr.io/org/agent:1`);
  }
  return image;
}

/** A commander option key as the flag a user typed: `websiteTlsCert` → `--website-tls-cert`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function ownerName(env: NodeJS.ProcessEnv): string {
  return env.FIELDTEST_OWNER || env.USER || userInfo().username;
}
