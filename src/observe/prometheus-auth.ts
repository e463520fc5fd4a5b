import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { stringify } from "yaml";

/** The basic-auth credentials Prometheus asks for; everything fieldtest sends it carries them. */
export interface PrometheusAuth {
  username: string;
  password: string;
}

/** The user name of a run without a website password. */
export const PROMETHEUS_USER = "fieldtest";

/** A random per-run password: Prometheus is never left open to anyone on the machine or a rebinding page. */
export function randomPrometheusAuth(): PrometheusAuth {
  return { username: PROMETHEUS_USER, password: randomBytes(24).toString("base64url") };
}

/** `Authorization` header for fetch. */
export function authHeaders(auth: PrometheusAuth | undefined): Record<string, string> {
  return auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` } : {};
}

/** Writes Prometheus' `--web.config.file` (owner-only) into `dir`: a bcrypt hash, never the password. */
export async function writeWebConfig(dir: string, auth: PrometheusAuth): Promise<string> {
  const path = join(dir, "web.yml");
  // Cost 10: Prometheus caches a verified hash per credentials, so the cost is paid about once.
  const hash = await bcrypt.hash(auth.password, 10);
  await writeFile(path, stringify({ basic_auth_users: { [auth.username]: hash } }), { mode: 0o600 });
  return path;
}
