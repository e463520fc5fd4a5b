// The own-network mode on an SSH host: a real sshd on a loopback port stands for a remote
// machine whose Docker engine is this machine's. sshd of each agent is published on the host's
// address; the agents reach each other on their bridge addresses, and faults apply there.
import { join } from "node:path";
import t from "tap";
import type { Inventory } from "../src/core/inventory.ts";
import { networkName } from "../src/targets/docker-engine/network.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";
import { requireSshd, startSshd } from "./helpers/sshd.ts";

const docker = await requireDocker(t);
const haveSshd = await requireSshd(t);

if (docker && haveSshd) {
  const home = await tempHome(t);
  const { port, dir, log: sshdLog } = await startSshd(t, join(home, "host"));
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
  const flags = ["--ssh-host", `root@127.0.0.1:${port}`, "--ssh-key", join(dir, "operator_key"), "--ssh-known-hosts", join(dir, "known_hosts")];

  t.test("up --ssh-host --network own: sshd published on the host, internalHost on the bridge", async (t) => {
    const namespace = uniqueNamespace("sshown");
    cleanupNamespace(t, docker, namespace);
    const up = await runCli(["up", ...flags, "--network", "own", "--namespace", namespace, "--vms", "2", "--ttl", "10m", "--json"], env);
    t.equal(up.code, 0, up.stderr + sshdLog());
    const inventory = JSON.parse(up.stdout) as Inventory;
    const [a, b] = inventory.agents;
    t.equal(a!.host, "127.0.0.1", "the runner reaches sshd on the host's address");
    t.not(a!.sshPort, b!.sshPort, "published on distinct host ports");
    t.match(a!.internalHost, /^172\.2[0-3]\./, "other agents use the bridge address");
    t.equal(a!.labels.network, "own");
    t.ok((await docker.listNetworks({ filters: { name: [networkName(namespace)] } })).length === 1, "the namespace's network exists on the host");

    const destroy = await runCli(["destroy", "--namespace", namespace], env);
    t.equal(destroy.code, 0, destroy.stderr);
    t.equal(await containerCount(docker, namespace), 0);
    t.same((await docker.listNetworks({ filters: { name: [networkName(namespace)] } })).filter((n) => n.Name === networkName(namespace)), [], "and its network is gone");
  });
}
