// What a scenario's own calls do as a run ends or goes wrong: an exec whose connection closes
// under it is a connection error naming the agent (not "exited with code 255"), and
// writeFile({ owner }) makes the owner as spawn({ user }) does, with errors that say what failed
// and not fieldtest's shell line.
import t from "tap";
import { AgentConnectionError, ExecError } from "../src/index.ts";
import { Cloud } from "../src/runtime/cloud.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1, { portsPerAgent: 4 });
  const [agent] = fleet.cloud.agents;
  const privateKey = (await fleet.state.clientKey()).privateKey;

  t.test("an exec in flight when the runner closes its connections is a connection error naming the agent", async (t) => {
    const cloud = await Cloud.connect(fleet.inventory, { privateKey, logSink: () => {} });
    const inFlight = cloud.agents[0]!.exec("sleep 30").catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await cloud.close();
    const error = await inFlight;
    t.ok(error instanceof AgentConnectionError, "an AgentConnectionError", { error });
    t.equal((error as AgentConnectionError).agent, "agent-001");
    t.match((error as Error).message, /^agent-001: the runner closed its SSH connection to the agent \(the run is ending\) while `sleep 30` ran: whether it finished is unknown/);
    t.notMatch((error as Error).message, /255/);
  });

  t.test("an exec in flight when the agent drops the connection is a connection error naming the agent", async (t) => {
    const cloud = await Cloud.connect(fleet.inventory, { privateKey, logSink: () => {} });
    t.teardown(() => cloud.close());
    const inFlight = cloud.agents[0]!.exec("sleep 30").catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The agent's side of every SSH session goes, as when sshd restarts or the agent reboots;
    // the session this pkill runs in goes too, so its own exec fails, and is not the one tested.
    await agent!.exec(["pkill", "-KILL", "-f", "sshd: .*@notty"]).catch(() => {});
    const error = await inFlight;
    t.ok(error instanceof AgentConnectionError, "an AgentConnectionError", { error });
    t.match((error as Error).message, /^agent-001: the SSH connection to the agent was lost \(the agent or the network went away\) while `sleep 30` ran/);
    t.match(await cloud.agents[0]!.exec("echo back"), { stdout: "back\n" }, "the next exec connects again");
  });

  t.test("writeFile with an owner the agent does not have makes that user, as spawn does", async (t) => {
    await agent!.writeFile("/srv/owned/config.toml", "x = 1\n", { owner: "dbowner", mode: 0o640 });
    const { stdout } = await agent!.exec("stat -c '%U:%G %a' /srv/owned/config.toml; id -u dbowner >/dev/null && test -d /home/dbowner && echo home");
    t.equal(stdout, "dbowner:dbowner 640\nhome\n");
  });

  t.test("a writeFile that fails says what failed, not fieldtest's shell line", async (t) => {
    const error = await agent!.writeFile("/etc/hostname/inside", "x").catch((e: unknown) => e);
    t.ok(error instanceof ExecError, "still an ExecError");
    t.match((error as Error).message, /^agent-001: writeFile \/etc\/hostname\/inside failed: mkdir: cannot create directory '\/etc\/hostname': File exists$/);
    t.notMatch((error as Error).message, /fieldtest-write|dirname|mkdir -p|\$t/, "no internal shell line");
    const unwritable = await agent!.writeFile("/proc/version", "x").catch((e: Error) => e.message);
    t.match(unwritable, /^agent-001: writeFile \/proc\/version failed: cannot create a file in \/proc/);
    t.notMatch(unwritable, /fieldtest-write|&&/, "no internal shell line");
  });
}
