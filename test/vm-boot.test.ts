// Boot, on a VM stand-in: the exact GCP startup script and AWS user data that the Pulumi program
// generates (gcpStartupScript, awsUserData: infra-gcp and infra-aws check that the program uses
// them), run as each cloud's VM runs them — Google's metadata script runner at every boot, cloud-init
// once per instance — in Debian containers with systemd as PID 1 and Docker inside
// (test/helpers/vm-standin.ts). The agent image comes from a real registry by the digest-pinned
// reference the program gives; the metadata server, Secret Manager, IMDSv2, SSM and ECR's login
// are the smallest stand-ins that answer the scripts' calls (test/fixtures/vm-standin/).
// Both clouds run at once, to one expiry: the test lasts about that long.
import { join } from "node:path";
import t, { type Test } from "tap";
import { awsUserData } from "../infra/aws-user-data.ts";
import { gcpStartupScript } from "../infra/gcp-startup-script.ts";
import { ensureAgentImage } from "../src/targets/docker-engine/image.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { requireDocker, ROOT, waitFor } from "./helpers/fleet.ts";
import { ensureStandinImage, sshToAgent, Standin, startRegistry, testLabel } from "./helpers/vm-standin.ts";

/** The agent container's expiry as its main process has it: sshd's sessions do not inherit the container's environment. */
const EXPIRY_OF_AGENT = "tr '\\0' '\\n' < /proc/1/environ | sed -n 's/^FIELDTEST_EXPIRES_AT=//p'";

/** Long enough for a first boot and a reboot of both stand-ins on a loaded 2-core machine. */
const EXPIRY_SECONDS = 180;
/** How late after its expiry an agent may leave, and a stand-in power off. */
const LATE_MS = 30_000;
const NAMESPACE = "vmboot";
// The names of the test's regions: the stand-in's certificate covers them (vm-standin/standin-tls.sh).
const GCP_PROJECT = "my-project";
const GCP_REGISTRY = "europe-west1-docker.pkg.dev";
const AWS_REGION = "eu-west-1";
const AWS_REGISTRY = `123456789012.dkr.ecr.${AWS_REGION}.amazonaws.com`;
const METADATA_IP = "169.254.169.254";

t.setTimeout(20 * 60_000);

const engine = await requireDocker(t);
if (engine) {
  t.test("the boot scripts on VM stand-ins", async (t) => {
    const step = (message: string) => t.comment(message);
    const [standinImage, agentImage] = await Promise.all([
      ensureStandinImage(engine, step),
      ensureAgentImage(engine, { dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" }, { step }),
    ]);
    const label = testLabel(t);
    const registry = await startRegistry(label, standinImage);
    // As GcpAgentImages and AwsAgentImages tag the image; docker-build's `ref` is the tag @ the digest.
    const gcpTag = `${GCP_REGISTRY}/${GCP_PROJECT}/${NAMESPACE}-images/debian:latest`;
    const awsTag = `${AWS_REGISTRY}/${NAMESPACE}-images:debian`;
    const digest = await registry.push(agentImage, gcpTag.slice(GCP_REGISTRY.length + 1));

    if ((await registry.push(agentImage, awsTag.slice(AWS_REGISTRY.length + 1))) !== digest) throw new Error("the registry gave one image two digests");

    const client = generateEd25519KeyPair("client");
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + EXPIRY_SECONDS) * 1000);
    const clouds = [await gcpStandin(), await awsStandin()];
    await Promise.all(clouds.map(({ standin }) => standin.start()));

    // Both at once: each waits for the same expiry.
    t.jobs = 2;
    for (const cloud of clouds) {
      t.test(cloud.name, { buffered: true }, async (t) => {
        const { standin, hostKey, log } = cloud;
        const otherKey = generateEd25519KeyPair("not the pinned one");
        const agentAnswers = async () => sshToAgent(await standin.ip(), hostKey.publicKey, client.privateKey, EXPIRY_OF_AGENT);
        const waitForAgent = (what: string) =>
          waitFor(what, () => agentAnswers().catch(() => undefined), expiresAt.getTime() - Date.now() - 20_000, 2000).catch(async (error: Error) => {
            throw new Error(`${error.message}\n${await log()}`);
          });

        t.equal(await waitForAgent("the agent's sshd after the first boot"), String(expiresAt.getTime() / 1000), "sshd on port 30000 answers with the pinned host key; the agent has the fleet's expiry");
        await t.rejects(sshToAgent(await standin.ip(), otherKey.publicKey, client.privateKey, "true"), "and only with it (StrictHostKeyChecking)");
        if (cloud.timer) t.equal(await cloud.timer(), expiresAt.getTime() / 1000, "the power-off timer is set to the expiry");

        await standin.reboot();
        t.equal(await waitForAgent("the agent's sshd after a reboot"), String(expiresAt.getTime() / 1000), "after a reboot the agent is back, with the same expiry");
        if (cloud.timer) t.equal(await cloud.timer(), expiresAt.getTime() / 1000, "a reboot keeps the power-off timer at the expiry");
        await cloud.afterReboot?.(t);
        t.ok(Date.now() < expiresAt.getTime(), `the stand-in did all this before the expiry (else raise EXPIRY_SECONDS)`);

        await cloud.atExpiry(t);
      });
    }

    async function gcpStandin() {
      const hostKey = generateEd25519KeyPair("gcp host");
      const secretId = `${NAMESPACE}--node-001-host-key`;
      const accessToken = "ya29.stand-in-token";
      const script = gcpStartupScript({ image: `${gcpTag}@${digest}`, project: GCP_PROJECT, secretId, authorizedKey: client.publicKey, expiresAt, registryHost: GCP_REGISTRY });
      const standin = await Standin.create({
        label,
        image: standinImage,
        hosts: { "metadata.google.internal": METADATA_IP, "secretmanager.googleapis.com": METADATA_IP, [GCP_REGISTRY]: registry.ip },
        files: {
          "/etc/standin/config.json": JSON.stringify({ gcp: { projectId: GCP_PROJECT, accessToken, attributes: { "startup-script": script }, secrets: { [secretId]: hostKey.privateKey } } }),
          // GCP's Debian images have no cloud-init.
          "/etc/cloud/cloud-init.disabled": "",
        },
      });
      const runs = async () => (await standin.exec("journalctl -o cat -u google-startup-scripts.service")).split("\n");
      return {
        name: "GCP: the startup script, which the guest agent runs at every boot",
        standin,
        hostKey,
        log: async () => (await runs().catch((error: Error) => [error.message])).slice(-40).join("\n"),
        timer: undefined,
        afterReboot: async (t: Test) => {
          t.equal((await runs()).filter((line) => line === "startup-script exit status 0").length, 2, "the script ran to its end at both boots");
        },
        atExpiry: async (t: Test) => {
          const left = await waitFor(
            "the agent container to leave",
            async () => ((await standin.exec("docker ps -aq --filter name=^fieldtest-agent$")) === "" ? Date.now() : undefined),
            expiresAt.getTime() - Date.now() + LATE_MS,
            500,
          );
          t.ok(left >= expiresAt.getTime() - 1000 && left <= expiresAt.getTime() + LATE_MS, `the agent left at its expiry (${(left - expiresAt.getTime()) / 1000} s after it)`);
          await t.rejects(sshToAgent(await standin.ip(), hostKey.publicKey, client.privateKey, "true"), "and its sshd with it");
        },
      };
    }

    async function awsStandin() {
      const hostKey = generateEd25519KeyPair("aws host");
      const parameter = `/fieldtest/${NAMESPACE}/node-001/host-key`;
      const userData = awsUserData({ image: `${awsTag}@${digest}`, region: AWS_REGION, hostKeyParameter: parameter, authorizedKey: client.publicKey, expiresAt, registryHost: AWS_REGISTRY });
      const standin = await Standin.create({
        label,
        image: standinImage,
        hosts: { [`ssm.${AWS_REGION}.amazonaws.com`]: METADATA_IP, [`api.ecr.${AWS_REGION}.amazonaws.com`]: METADATA_IP, [AWS_REGISTRY]: registry.ip },
        files: {
          "/etc/standin/config.json": JSON.stringify({
            aws: {
              role: `${NAMESPACE}-agent-${AWS_REGION}`,
              accessKeyId: "ASIASTANDIN0000000000",
              secretAccessKey: "stand-in-secret-key",
              sessionToken: "stand-in-session-token",
              parameters: { [parameter]: hostKey.privateKey },
              registryPassword: "stand-in-registry-password",
              registryHost: AWS_REGISTRY,
            },
          }),
          // What EC2 gives cloud-init: the user data, and an instance id (user data runs once per instance).
          "/var/lib/cloud/seed/nocloud/user-data": userData,
          "/var/lib/cloud/seed/nocloud/meta-data": "instance-id: i-0123456789abcdef0\n",
        },
      });
      return {
        name: "AWS: the user data, which cloud-init runs at the first boot only",
        standin,
        hostKey,
        log: async () => (await standin.exec("tail -n 40 /var/log/cloud-init-output.log").catch((error: Error) => error.message)),
        timer: async () => Number(await standin.exec(`date -d "$(systemctl show -P NextElapseUSecRealtime fieldtest-expiry.timer)" +%s`)),
        afterReboot: undefined,
        atExpiry: async (t: Test) => {
          const state = await waitFor("the stand-in to power off", async () => ((await standin.state()).running ? undefined : standin.state()), expiresAt.getTime() - Date.now() + LATE_MS, 500);
          const late = state.finishedAt.getTime() - expiresAt.getTime();
          t.ok(late >= -1000 && late <= LATE_MS, `the stand-in powered off at the expiry (${late / 1000} s after it)`);
        },
      };
    }
  });
}
