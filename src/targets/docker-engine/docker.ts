import Docker from "dockerode";

/** A Docker Engine API client for DOCKER_HOST, or the local socket when it is unset. */
export function createDocker(): Docker {
  return new Docker();
}

export class DockerUnavailableError extends Error {}

export async function assertDockerAvailable(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    const where = process.env.DOCKER_HOST ?? "/var/run/docker.sock";
    throw new DockerUnavailableError(
      `no Docker engine answers at ${where} (${(error as Error).message}); start one, e.g. \`sudo scripts/setup-docker.sh\`, or set DOCKER_HOST`,
    );
  }
}

export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/** 409 "removal already in progress" counts as gone for our purposes too. */
export function isGoneOrGoing(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
}
