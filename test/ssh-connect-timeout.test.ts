// A connection towards an address that drops SYNs (a host that has gone, with its ARP entry
// still cached) must fail at the connection's own timeout, not after the kernel's ~2 minutes
// of SYN retries: readiness polling and every exec rely on that bound.
import t from "tap";
import { SshConnection } from "../src/transport/ssh-connection.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("the TCP connect is bounded by the connection's timeout", async (t) => {
    const fleet = await testFleet(t, docker, 1, { network: "own" });
    const [spec] = fleet.inventory.agents;
    const [agent] = fleet.cloud.agents;
    // New connections to sshd go unanswered; the runner's open one keeps working.
    await agent!.exec(["iptables", "-I", "INPUT", "-p", "tcp", "--dport", String(spec!.sshPort), "--syn", "-j", "DROP"]);
    const connection = new SshConnection(
      { label: spec!.name, host: spec!.host, port: spec!.sshPort, user: spec!.user, hostKey: spec!.hostKey, privateKey: (await fleet.state.clientKey()).privateKey },
      1000,
    );
    const started = Date.now();
    await t.rejects(connection.exec("true"), /agent-001: SSH to .* failed: no TCP connection within 1000 ms/);
    // The kernel alone would take ~130 s; anything near the timeout shows the bound at work.
    t.ok(Date.now() - started < 30_000, `failed after ${Date.now() - started} ms`);
    connection.close();
  });
}
