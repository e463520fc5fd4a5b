import type { Agent } from "../runtime/agent.ts";
import type { LogSink } from "../runtime/daemon.ts";
import { waitForHttp } from "./http-ready.ts";
import type { NodeExporterTarget } from "./prometheus.ts";
import { isLoopbackHost } from "./host-names.ts";

const BINARY = "prometheus-node-exporter";

/**
 * Starts the agent image's node exporter on each agent, on the next port of its slice, and
 * waits until the runner can scrape it: what the runner reaches, the run's Prometheus reaches.
 * Loopback agents listen on loopback only; others on every interface, like their sshd.
 */
export async function startNodeExporters(agents: readonly Agent[], onLine: LogSink, timeoutMs = 15_000): Promise<NodeExporterTarget[]> {
  return Promise.all(
    agents.map(async (agent) => {
      const port = agent.nextPort();
      const listen = isLoopbackHost(agent.host) ? agent.host : "0.0.0.0";
      // Debian enables the systemd collector, which fails every scrape in a container without systemd.
      const argv = [BINARY, `--web.listen-address=${listen}:${port}`, "--no-collector.systemd"];
      const daemon = await agent.spawn(argv, { name: "node-exporter", onLine });
      const url = `http://${agent.host}:${port}/metrics`;
      let exited = false;
      void daemon.exited.then(() => (exited = true));
      const outcome = await waitForHttp(url, timeoutMs, () => exited);
      if (outcome === "ended") {
        throw new Error(
          `${agent.name}: ${BINARY} exited at start (is the agent image older than --monitoring? rebuild it): ${daemon.recentLines().slice(-3).join(" | ")}`,
        );
      }
      if (outcome === "timeout") throw new Error(`${agent.name}: node exporter at ${url} did not answer within ${timeoutMs} ms`);
      return { agent: agent.name, host: agent.host, port };
    }),
  );
}
