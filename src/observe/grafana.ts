import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { isGoneOrGoing } from "../targets/docker-engine/docker.ts";
import { ROLE_LABEL } from "../core/labels.ts";
import { waitForHttp } from "./http-ready.ts";

export const DEFAULT_GRAFANA_IMAGE = "grafana/grafana-oss";

export interface GrafanaOptions {
  image: string;
  port: number;
  prometheusUrl: string;
  /** observe/grafana/provisioning and observe/grafana/dashboards of the fieldtest package. */
  provisioningDir: string;
  dashboardsDir: string;
  /** The namespace's resource labels, so `destroy` and `reap` select it exactly like agents. */
  labels: Record<string, string>;
  /** The container ends itself after this long, like an agent at its TTL. */
  ttlSeconds: number;
  readyTimeoutMs?: number;
}

export interface Grafana {
  url: string;
  /** The `admin` user's password, random per run and shown nowhere: anonymous visitors only view. */
  adminPassword: string;
  stop(): Promise<void>;
}

export class GrafanaError extends Error {}

/** The image must be on this engine, or pullable; otherwise say how to get it, before anything is created. */
export async function ensureGrafanaImage(docker: Docker, image: string): Promise<void> {
  const present = await docker.getImage(image).inspect().then(() => true, () => false);
  if (present) return;
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve())));
  } catch (error) {
    throw new GrafanaError(
      `--grafana: image ${image} is not on this Docker engine and could not be pulled (${(error as Error).message}); ` +
        `load it with \`docker load\`, or name one you have with --grafana-image; nothing was created`,
    );
  }
}

/**
 * The container Grafana runs in: host network, loopback, provisioned with fieldtest's data
 * source and dashboard, anonymous visitors as Viewer, and an `admin` whose password is
 * random (never Grafana's default admin/admin, which any local user or page could try).
 */
export function grafanaContainerOptions(options: GrafanaOptions, entrypoint: string[], adminPassword: string): Docker.ContainerCreateOptions {
  const dashboards = "/var/lib/grafana/dashboards";
  return {
    Image: options.image,
    Entrypoint: ["timeout", String(options.ttlSeconds), ...entrypoint],
    Cmd: [],
    Labels: { ...options.labels, [ROLE_LABEL]: "grafana" },
    Env: [
      `FIELDTEST_PROMETHEUS_URL=${options.prometheusUrl}`,
      `FIELDTEST_GRAFANA_DASHBOARDS=${dashboards}`,
      "GF_SERVER_HTTP_ADDR=127.0.0.1",
      `GF_SERVER_HTTP_PORT=${options.port}`,
      "GF_AUTH_ANONYMOUS_ENABLED=true",
      "GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer",
      "GF_SECURITY_ADMIN_USER=admin",
      `GF_SECURITY_ADMIN_PASSWORD=${adminPassword}`,
      "GF_USERS_ALLOW_SIGN_UP=false",
      "GF_ANALYTICS_REPORTING_ENABLED=false",
      "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
    ],
    HostConfig: {
      NetworkMode: "host",
      AutoRemove: true,
      Binds: [`${options.provisioningDir}:/etc/grafana/provisioning:ro`, `${options.dashboardsDir}:${dashboards}:ro`],
    },
  };
}

/**
 * Runs Grafana (grafanaContainerOptions). Its own entrypoint runs under `timeout`, and the
 * container removes itself when it ends, so a crashed runner leaves it only until the TTL.
 */
export async function startGrafana(docker: Docker, options: GrafanaOptions): Promise<Grafana> {
  const config = (await docker.getImage(options.image).inspect()).Config;
  const entrypoint = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (entrypoint.length === 0) throw new GrafanaError(`--grafana: image ${options.image} names no entrypoint or command to run`);
  const adminPassword = randomBytes(24).toString("base64url");
  const container = await docker.createContainer(grafanaContainerOptions(options, entrypoint, adminPassword));
  const stop = async () => {
    await container.stop({ t: 5 }).catch((error) => {
      // 304: already stopped; 404/409: already removed or being removed.
      if ((error as { statusCode?: number }).statusCode !== 304 && !isGoneOrGoing(error)) throw error;
    });
  };
  try {
    await container.start();
    const url = `http://127.0.0.1:${options.port}`;
    await waitForHealth(docker, container.id, url, options.readyTimeoutMs ?? 60_000);
    return { url, adminPassword, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

async function waitForHealth(docker: Docker, id: string, url: string, timeoutMs: number): Promise<void> {
  const stopped = () => docker.getContainer(id).inspect().then((info) => !info.State.Running, () => true);
  const outcome = await waitForHttp(`${url}/api/health`, timeoutMs, stopped);
  if (outcome === "ended") throw new GrafanaError(`--grafana: the Grafana container exited before it answered on ${url}/api/health`);
  if (outcome === "timeout") throw new GrafanaError(`--grafana: Grafana did not answer on ${url}/api/health within ${timeoutMs} ms`);
}
