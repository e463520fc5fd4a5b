// The health scenario's "httpd is gone after stop" check, run against real agents and a real
// busybox httpd in each state the check must tell apart: it must fail while the daemon serves,
// and while something still holds the port, and pass only once the port refuses connections.
import t from "tap";
import health, { checkClosed } from "../scenarios/health.ts";
import { requireDocker, testFleet, waitFor } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 2, { portsPerAgent: 10 });
  const server = fleet.cloud.agents[0]!;
  const neighbour = fleet.cloud.agents[1]!;
  await server.exec("mkdir -p www && echo hello > www/index.html");

  /** An httpd on a fresh port of the server's slice, answering the neighbour. */
  async function startHttpd() {
    const port = server.nextPort();
    const daemon = await server.spawn(["busybox", "httpd", "-f", "-p", String(port), "-h", "www"], { name: `httpd-${port}` });
    const url = `http://${server.internalHost}:${port}/`;
    await waitFor(`${url} to answer`, async () => ((await neighbour.exec(["busybox", "wget", "-q", "-O", "-", url], { allowFailure: true })).code === 0 ? true : undefined), 10_000);
    return { port, daemon, url };
  }

  t.test("the check fails while the daemon still serves", async (t) => {
    const { daemon, url } = await startHttpd();
    t.teardown(() => daemon.stop());
    await t.rejects(checkClosed(neighbour, url, "httpd"), { message: `httpd still answers at ${url} after stop` });
  });

  t.test("the check fails while a frozen daemon still holds the port, within its timeout", async (t) => {
    const { port, daemon, url } = await startHttpd();
    const pattern = `busybox httpd -f -p ${port} `;
    t.teardown(async () => {
      await server.exec(["pkill", "-CONT", "-f", pattern], { allowFailure: true });
      await daemon.stop();
    });
    await server.exec(["pkill", "-STOP", "-f", pattern]);
    await t.rejects(checkClosed(neighbour, url, "httpd"), { message: /^httpd: .* still accepts connections after stop, with no answer within 2s$/ });
  });

  t.test("the check passes once the stopped daemon's port refuses connections", async (t) => {
    const { daemon, url } = await startHttpd();
    await daemon.stop();
    await t.resolves(checkClosed(neighbour, url, "httpd"));
  });

  t.test("the whole scenario passes on a healthy fleet, with the stop checked on each agent", async (t) => {
    const logged = fleet.lines.length;
    await health.run(fleet.cloud, {});
    const lines = fleet.lines.slice(logged).map((l) => l.line);
    for (const [agent, from] of [["agent-001", "agent-002"], ["agent-002", "agent-001"]] as const) {
      t.match(lines.find((line) => line.startsWith(`${agent}: exec ok`)), new RegExp(`^${agent}: exec ok, copy ok \\(\\w{12}\\), httpd on \\d+ reached from ${from} and stopped$`), agent);
    }
  });

  t.test("a probe that fails for another reason fails the check instead of passing it", async (t) => {
    // wget refuses the port number before it sends anything: exit 1, as for a refused connection.
    await t.rejects(checkClosed(neighbour, "http://127.0.0.1:99999/", "httpd"), { message: "httpd: cannot tell whether http://127.0.0.1:99999/ is closed: the probe from agent-002 exited 1: wget: bad port '99999'" });
  });
}
