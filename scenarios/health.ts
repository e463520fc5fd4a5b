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
  const after = await neighbour.exec(["busybox", "wget", "-q", "-T", "2", "-O", "-", url], { allowFailure: true });
  if (after.code === 0) throw new Error(`${agent.name}: httpd still answers on ${port} after stop`);
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
