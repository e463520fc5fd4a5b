import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import t from "tap";
import { agentImageTag } from "../src/targets/docker-engine/image.ts";
import { startGrafana } from "../src/observe/grafana.ts";
import { freePort } from "./fixtures/binaries.ts";
import { requireDocker, ROOT, testFleet } from "./helpers/fleet.ts";
import { join } from "node:path";

const run = promisify(execFile);

// No Grafana image can be pulled here: a stand-in with Grafana's contract (an entrypoint that
// serves /api/health on GF_SERVER_HTTP_PORT) shows what startGrafana asks Docker to run.
const docker = await requireDocker(t);
if (docker) {
  t.test("Grafana gets a random admin password per run and anonymous visitors only view", async (t) => {
    // The agent image is on this engine (testFleet builds it) and has busybox's httpd.
    await testFleet(t, docker, 1, { portsPerAgent: 2 });
    const base = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    const image = `fieldtest-test/grafana-stand-in:${randomBytes(4).toString("hex")}`;
    const dockerfile = `FROM ${base}\nENTRYPOINT ["sh", "-c", "mkdir -p /w/api && echo ok > /w/api/health && exec busybox httpd -f -p 127.0.0.1:$GF_SERVER_HTTP_PORT -h /w"]\n`;
    await new Promise<void>((resolve, reject) => {
      const build = execFile("docker", ["build", "-q", "-t", image, "-"], (error) => (error ? reject(error) : resolve()));
      build.stdin!.end(dockerfile);
    });
    t.teardown(() => run("docker", ["rmi", "-f", image]).then(() => {}));

    const passwords: string[] = [];
    for (let i = 0; i < 2; i++) {
      const grafana = await startGrafana(docker, {
        image,
        port: await freePort(),
        prometheusUrl: "http://127.0.0.1:9",
        provisioningDir: join(ROOT, "observe/grafana/provisioning"),
        dashboardsDir: join(ROOT, "observe/grafana/dashboards"),
        labels: { "fieldtest-test": "grafana-security" },
        ttlSeconds: 60,
      });
      t.teardown(() => grafana.stop());
      const containers = await docker.listContainers({ filters: { label: ["fieldtest-role=grafana", "fieldtest-test=grafana-security"] } });
      const env = (await docker.getContainer(containers.find((c) => c.Image === image)!.Id).inspect()).Config.Env;
      const setting = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
      t.ok(grafana.adminPassword, "the run has an admin password");
      t.equal(setting("GF_SECURITY_ADMIN_PASSWORD"), grafana.adminPassword, "Grafana is given the run's admin password");
      t.equal(setting("GF_AUTH_ANONYMOUS_ORG_ROLE"), "Viewer", "anonymous visitors only view");
      t.equal(setting("GF_USERS_ALLOW_SIGN_UP"), "false");
      passwords.push(grafana.adminPassword);
      await grafana.stop();
    }
    t.ok(passwords.every((p) => p.length >= 24 && p !== "admin"), "never the default admin/admin");
    t.not(passwords[0], passwords[1], "a new password each run");
  });
}
