import t from "tap";
import { agentContainerName } from "../src/targets/docker-engine/provisioner.ts";
import { SshConnection } from "../src/transport/ssh-connection.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

// Keepalives every second, so an agent silent for three seconds is dropped: short for a test,
// and still far from the milliseconds a live sshd takes to answer one, even on a busy machine.
const KEEPALIVE_MS = 1000;

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1);
  const spec = fleet.inventory.agents[0]!;
  const { privateKey } = await fleet.state.clientKey();
  const container = docker.getContainer(agentContainerName(fleet.namespace, spec.name));
  const connect = () => {
    const connection = new SshConnection({ label: spec.name, host: spec.host, port: spec.sshPort, user: spec.user, hostKey: spec.hostKey, privateKey }, 10_000, KEEPALIVE_MS);
    t.teardown(() => connection.close());
    return connection;
  };

  t.test("an idle connection the agent answers is kept: its keepalive replies are what it hears", async (t) => {
    const connection = connect();
    const client = await connection.get();
    await new Promise((resolve) => setTimeout(resolve, 8 * KEEPALIVE_MS));
    t.equal(await connection.get(), client, "the same client after eight keepalive intervals without a command");
  });

  t.test("a frozen agent (docker pause) is dropped: its channel closes without a status, and the next use reconnects", async (t) => {
    const connection = connect();
    const client = await connection.get();
    const sleeper = await connection.exec("sleep 120");
    sleeper.channel.resume(); // ssh2 reports a channel closed only once its output was read
    await container.pause();
    t.teardown(() => container.unpause().catch(() => {}));
    const { code } = await sleeper.exited;
    t.equal(code, null, "the channel closed without an exit status");
    await container.unpause();
    t.not(await connection.get(), client, "a new connection once the agent answers again");
  });
}
