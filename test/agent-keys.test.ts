// An agent's keys come in its container's environment (provisioner.ts agentKeysEnv): its
// entrypoint installs them before sshd starts, privately, and no command started over SSH
// inherits them; an image whose entrypoint predates that is refused before any agent is made.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { silentProgress } from "../src/core/progress.ts";
import { ensureFleetImages, ImageError } from "../src/targets/docker-engine/image.ts";
import { requireDocker, ROOT, tempHome, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("the keys are installed with private modes, and neither SSH sessions nor the entrypoint's children inherit them", async (t) => {
    const { cloud } = await testFleet(t, docker, 1, { network: "host" });
    const agent = cloud.agents[0]!;
    const modes = await agent.exec("stat -c '%a %U %n' /etc/ssh/ssh_host_ed25519_key /root/.ssh/authorized_keys");
    t.equal(modes.stdout, "600 root /etc/ssh/ssh_host_ed25519_key\n600 root /root/.ssh/authorized_keys\n");
    // What a scenario's commands start with, and what the entrypoint's own children (its TTL
    // timer's sleep) were exec'd with.
    const session = await agent.exec("env; tr '\\0' '\\n' </proc/$(pgrep -o -x sleep)/environ");
    t.match(session.stdout, /^FIELDTEST_EXPIRES_AT=/m, "the timer's environment was read");
    t.notMatch(session.stdout, /FIELDTEST_(HOST|AUTHORIZED)_|PRIVATE KEY/);
  });

  t.test("an image whose entrypoint does not install keys from the environment is refused, saying why", async (t) => {
    const project = join(await tempHome(t), "dockerfiles");
    await mkdir(project);
    // The entrypoint of an older fieldtest: the same script without the keys' installation.
    await writeFile(join(project, "stale.Dockerfile"), "FROM fieldtest-agent:debian\nRUN sed -i 's/FIELDTEST_HOST_KEY/FIELDTEST_OLD_KEY/g' /usr/local/bin/fieldtest-agent\n");
    const images = { projectDirs: [project], fieldtestDir: join(ROOT, "dockerfiles") };
    const error = await ensureFleetImages(docker, images, ["stale"], silentProgress).then(() => undefined, (e: Error) => e);
    t.type(error, ImageError);
    t.match(error?.message, /fieldtest-agent is older than this fieldtest: it does not install the keys passed in FIELDTEST_HOST_KEY/);
  });
}
