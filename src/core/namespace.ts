import { z } from "zod";

/**
 * A namespace names one experiment fleet. It prefixes cloud resource names, so it is a
 * lowercase DNS label short enough to leave room for `<ns>--<group>-<NNN>`, without `--`, which
 * separates it from the agent's name in cloud resource names (src/core/naming.ts).
 */
export const NAMESPACE_MAX_LENGTH = 20;

export const namespaceSchema = z
  .string()
  .min(1, "namespace is empty")
  .max(NAMESPACE_MAX_LENGTH, `namespace is longer than ${NAMESPACE_MAX_LENGTH} characters`)
  .regex(
    /^[a-z]([a-z0-9-]*[a-z0-9])?$/,
    "namespace must be lowercase letters, digits and '-', start with a letter and not end with '-' (e.g. alice, exp-42)",
  )
  .refine((name) => !name.includes("--"), "namespace must not hold '--', which separates it from agent names in cloud resource names (e.g. exp-42, not exp--42)");

export type Namespace = z.infer<typeof namespaceSchema>;

const TTL_UNITS_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
export { DEFAULT_TTL } from "./defaults.ts";
export const MIN_TTL_SECONDS = 5;
export const MAX_TTL_SECONDS = 30 * 86400;

/** Parses `90s`, `30m`, `2h`, `1d` or a combination such as `1h30m` into seconds. */
export function parseTtl(text: string): number {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!match || text.trim() === "") {
    throw new Error(`ttl "${text}" is not a duration: use e.g. 90s, 30m, 2h, 1d or 1h30m`);
  }
  const [, d, h, m, s] = match;
  const seconds =
    Number(d ?? 0) * TTL_UNITS_SECONDS.d +
    Number(h ?? 0) * TTL_UNITS_SECONDS.h +
    Number(m ?? 0) * TTL_UNITS_SECONDS.m +
    Number(s ?? 0) * TTL_UNITS_SECONDS.s;
  if (seconds < MIN_TTL_SECONDS) {
    throw new Error(`ttl "${text}" is shorter than the minimum of ${MIN_TTL_SECONDS}s`);
  }
  if (seconds > MAX_TTL_SECONDS) {
    throw new Error(`ttl "${text}" is longer than the maximum of ${MAX_TTL_SECONDS / 86400}d`);
  }
  return seconds;
}

export function formatDuration(seconds: number): string {
  if (seconds <= 0) return "expired";
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean);
  return parts.slice(0, 2).join("");
}

/** Label keys carried by every resource fieldtest creates, on every target. */
export const LABELS = {
  namespace: "fieldtest-namespace",
  expiresAt: "fieldtest-expires-at",
  owner: "fieldtest-owner",
} as const;

export interface ResourceLabelInput {
  namespace: Namespace;
  expiresAt: Date;
  owner: string;
}

/** Label values are limited to what GCP accepts (lowercase, digits, '-', '_', ≤ 63 chars). */
export function labelValue(text: string): string {
  const cleaned = text.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 63);
  return cleaned === "" ? "unknown" : cleaned;
}

/**
 * When something made now with this TTL expires, at a whole second (rounded up, so the TTL is
 * never short): labels, tags and GCP's `terminationTime` hold whole seconds, and the anchored
 * expiry must be the same instant.
 */
export function expiryAfter(ttlSeconds: number, now = new Date()): Date {
  return new Date(Math.ceil(now.getTime() / 1000) * 1000 + ttlSeconds * 1000);
}

/** `2030-01-01T12:00:00Z`: RFC 3339 at whole seconds, as GCP's `terminationTime` takes it. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function resourceLabels({ namespace, expiresAt, owner }: ResourceLabelInput): Record<string, string> {
  return {
    [LABELS.namespace]: namespace,
    [LABELS.expiresAt]: String(Math.floor(expiresAt.getTime() / 1000)),
    [LABELS.owner]: labelValue(owner),
  };
}

/** Exact selection: `alice` never matches `alice-test`. */
export function belongsToNamespace(labels: Record<string, string> | undefined, namespace: Namespace): boolean {
  return labels?.[LABELS.namespace] === namespace;
}

export function expiresAtFromLabels(labels: Record<string, string> | undefined): Date | undefined {
  const raw = labels?.[LABELS.expiresAt];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return new Date(Number(raw) * 1000);
}
