// The fleet's health check: every agent runs a command, receives a file intact, serves a
// daemon on a port of its own slice that another agent can reach, and stops it cleanly.
import { randomBytes, createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineScenario, type Agent } from "fieldtest";

async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How long the probe after a stop waits for an answer: a live httpd answers at once. */
const CLOSED_PROBE_SECONDS = 2;

/**
 * Throws unless nothing listens at `url` any more, as `from` sees it. Only a refused connection
 * counts as closed: an answer means the daemon still serves, a timeout means something still
 * holds the port, and any other failure of the probe (a missing tool, an option this busybox
 * lacks) proves nothing, so it fails the check instead of passing it.
 */
export async function checkClosed(from: Agent, url: string, what: string): Promise<void> {
  // busybox wget has no working -T here (it exits 128 on any -T), so coreutils bounds the wait.
  const probe = await from.exec(["timeout", String(CLOSED_PROBE_SECONDS), "busybox", "wget", "-q", "-O", "-", url], { allowFailure: true });
  if (probe.code === 0) throw new Error(`${what} still answers at ${url} after stop`);
  if (probe.code === 124) throw new Error(`${what}: ${url} still accepts connections after stop, with no answer within ${CLOSED_PROBE_SECONDS}s`);
  if (!/Connection refused/.test(probe.stderr)) {
    throw new Error(`${what}: cannot tell whether ${url} is closed: the probe from ${from.name} exited ${probe.code}: ${probe.stderr.trim()}`);
  }
}

async function checkAgent(agent: Agent, payload: string, payloadHash: string, neighbour: Agent, log: (line: string) => void) {
  const { stdout } = await agent.exec(["uname", "-sm"]);
  log(`${agent.name}: ${stdout.trim()}`);

  const first = await agent.copy(payload, "health/payload.bin");
  const again = await agent.copy(payload, "health/payload.bin");
  const remoteHash = (await agent.exec(["sha256sum", "health/payload.bin"])).stdout.split(" ")[0];
  if (remoteHash !== payloadHash) throw new Error(`${agent.name}: copied file hash ${remoteHash} != local ${payloadHash}`);
  if (!first.transferred || again.transferred) throw new Error(`${agent.name}: expected one transfer then a skip, got ${first.transferred}/${again.transferred}`);

  const port = agent.nextPort();
  await agent.exec(`mkdir -p health/www && echo "hello from ${agent.name}" > health/www/index.html`);
  const daemon = await agent.spawn(["busybox", "httpd", "-f", "-v", "-p", String(port), "-h", "health/www"], { name: "httpd" });
  const url = `http://${agent.internalHost}:${port}/`;
  const body = await until(`${url} to answer ${neighbour.name}`, async () => {
    const result = await neighbour.exec(["busybox", "wget", "-q", "-O", "-", url], { allowFailure: true });
    return result.code === 0 ? result.stdout : undefined;
  });
  if (body.trim() !== `hello from ${agent.name}`) throw new Error(`${neighbour.name} got ${JSON.stringify(body)} from ${url}`);

  await daemon.stop();
  await checkClosed(neighbour, url, `${agent.name}: httpd`);
  log(`${agent.name}: exec ok, copy ok (${payloadHash.slice(0, 12)}), httpd on ${port} reached from ${neighbour.name} and stopped`);
}

export default defineScenario({
  name: "health",
  description: "exec, copy with hash check, a daemon on nextPort() reached from a neighbour, clean stop",
  agents: 2,
  async run(cloud) {
    const dir = await mkdtemp(join(tmpdir(), "fieldtest-health-"));
    try {
      const payload = join(dir, "payload.bin");
      const bytes = randomBytes(256 * 1024);
      await writeFile(payload, bytes);
      const payloadHash = createHash("sha256").update(bytes).digest("hex");
      const agents = cloud.agents;
      await Promise.all(
        agents.map((agent, i) => checkAgent(agent, payload, payloadHash, agents[(i + 1) % agents.length]!, (line) => cloud.log(line))),
      );
      cloud.log(`all ${agents.length} agents healthy`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
});
