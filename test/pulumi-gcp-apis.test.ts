// A GCP API the program uses is not enabled: Google answers a 403 (reason SERVICE_DISABLED, or
// accessNotConfigured before), and `up` must say which API and the `gcloud services enable` to
// run, not pass the provider's error on. The texts below are Google's answers as users reported
// them (each cites where), also run through the Automation API's own `up` against a `pulumi` that
// prints them as Pulumi prints a failed update. Before that, where gcloud can list the project's
// enabled APIs, the plan is refused naming the missing ones.
import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { isoSeconds } from "../src/core/namespace.ts";
import { findExecutable } from "../src/core/executables.ts";
import { disabledGcpApis, disabledGcpApisMessage, gcloudEnabledServicesArgs, GCP_APIS, gcpApisProblem } from "../src/targets/pulumi/gcp-apis.ts";
import { openWorkspace, upStack } from "../src/targets/pulumi/stacks.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";
import { ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const REPORTED = {
  // terraform-google-modules/cloud-foundation-training#17: the older shape, reason accessNotConfigured.
  accessNotConfigured:
    "Error creating Network: googleapi: Error 403: Access Not Configured. Compute Engine API has not been used in project 1025699268247 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=1025699268247 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured",
  // GoogleCloudPlatform/pbmm-on-gcp-onboarding#382 (its ErrorInfo cut short there, completed as
  // google/api/error_reason.proto documents SERVICE_DISABLED).
  serviceDisabled: `Error: Error waiting to create OrganizationSecurityPolicy: Error waiting for Creating OrganizationSecurityPolicy: error while retrieving operation: googleapi: Error 403: Compute Engine API has not been used in project tef-olxyz before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=tef-olxyz then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.
Details:
[
  {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
      {
        "description": "Google developers console API activation",
        "url": "https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=tef-olxyz"
      }
    ]
  },
  {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "domain": "googleapis.com",
    "metadata": {
      "consumer": "projects/tef-olxyz",
      "service": "compute.googleapis.com"
    },
    "reason": "SERVICE_DISABLED"
  }
]`,
  // midl-dev/tezos-on-gke#7: a project the API has never seen.
  projectNotFound:
    "Error: Error creating GlobalAddress: googleapi: Error 403: Project 1008....82 is not found and cannot be used for API calls. If it is recently created, enable Compute Engine API by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=1008....82 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured",
  // marekaf/gcr-lifecycle-policy#5: a container registry's answer (as to an image push), for an API fieldtest does not list.
  registryDenied:
    '{"errors":[{"code":"DENIED","message":"Cloud Resource Manager API has not been used in project xxxx before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/cloudresourcemanager.googleapis.com/overview?project=xxxx then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."}]}',
  // pulumi/pulumi-gcp#2896, as Pulumi printed it: SERVICE_DISABLED for the consumer of local
  // credentials without a quota project, which is not the user's project to enable anything in.
  quotaProject: `sdk-v2/provider2.go:515: sdk.helper_schema: Error when reading or editing ApikeysKey "projects/855590905560/locations/global/keys/test2": googleapi: Error 403: Your application is authenticating by using local Application Default Credentials. The apikeys.googleapis.com API requires a quota project, which is not set by default. To learn how to set your quota project, see https://cloud.google.com/docs/authentication/adc-troubleshooting/user-creds .
    Details:
    [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "domain": "googleapis.com",
        "metadata": {
          "consumer": "projects/764086051850",
          "service": "apikeys.googleapis.com"
        },
        "reason": "SERVICE_DISABLED"
      }
    ]`,
};

const ALL = GCP_APIS.map((api) => api.service).join(" ");

t.test("each reported shape names the disabled API and the project", async (t) => {
  t.same(disabledGcpApis(REPORTED.accessNotConfigured), { services: ["compute.googleapis.com"], project: "1025699268247" });
  t.same(disabledGcpApis(REPORTED.serviceDisabled), { services: ["compute.googleapis.com"], project: "tef-olxyz" });
  t.same(disabledGcpApis(REPORTED.projectNotFound), { services: ["compute.googleapis.com"], project: "1008....82" });
  t.same(disabledGcpApis(REPORTED.registryDenied), { services: ["cloudresourcemanager.googleapis.com"], project: "xxxx" });
});

t.test("the ErrorInfo alone, as error_reason.proto documents it, is enough", async (t) => {
  const errorInfo = JSON.stringify({ reason: "SERVICE_DISABLED", domain: "googleapis.com", metadata: { consumer: "projects/123", service: "secretmanager.googleapis.com" } }, null, 2);
  t.same(disabledGcpApis(`googleapi: Error 403: Permission denied\nDetails:\n[${errorInfo}]`), { services: ["secretmanager.googleapis.com"], project: "123" });
});

t.test("other failures are left as they are", async (t) => {
  t.equal(disabledGcpApis(REPORTED.quotaProject), undefined, "a missing quota project is not a disabled API of the user's project");
  t.equal(disabledGcpApis("googleapi: Error 403: Required 'compute.networks.get' permission for 'projects/p/global/networks/default'., forbidden"), undefined);
  t.equal(disabledGcpApis("error: InvalidParameterValue: Invalid rule description"), undefined);
});

t.test("the message names the API, what fieldtest uses it for, and one gcloud command for every API the fleet uses", async (t) => {
  const message = disabledGcpApisMessage(disabledGcpApis(REPORTED.serviceDisabled)!);
  t.match(message, "the GCP project tef-olxyz has not enabled an API the fleet needs: Compute Engine API (compute.googleapis.com, for the network, firewall rules and VMs)");
  t.match(message, `\n  gcloud services enable ${ALL} --project tef-olxyz`);
  const other = disabledGcpApisMessage(disabledGcpApis(REPORTED.registryDenied)!);
  t.match(other, `gcloud services enable ${ALL} cloudresourcemanager.googleapis.com --project xxxx`, "an API fieldtest does not list is enabled too");
});

t.test("a failed `pulumi up` through the Automation API reports the disabled APIs, not Pulumi's output", async (t) => {
  const dir = await tempHome(t);
  await mkdir(join(dir, "bin"));
  await mkdir(join(dir, "project"));
  await writeFile(join(dir, "project", "Pulumi.yaml"), "name: fieldtest\nruntime: nodejs\n");
  // Pulumi's diagnostics for two resources that failed, one per API.
  const output = [
    "Updating (alice):",
    "Diagnostics:",
    "  gcp:compute:Network (alice-network):",
    `    error:  sdk-v2/provider2.go:520: sdk.helper_schema: ${REPORTED.serviceDisabled.replace(/^Error: /, "").replace(/\n/g, "\n    ")}`,
    "  gcp:artifactregistry:Repository (alice-images):",
    `    error:  sdk-v2/provider2.go:520: sdk.helper_schema: Error creating Repository: googleapi: Error 403: Artifact Registry API has not been used in project tef-olxyz before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/artifactregistry.googleapis.com/overview?project=tef-olxyz then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.`,
  ].join("\n");
  await writeFile(join(dir, "up-output.txt"), `${output}\n`);
  await writeFile(join(dir, "bin", "pulumi"), `#!/bin/sh\ncase "$1" in\n  version) echo v3.248.0 ;;\n  up) cat "${join(dir, "up-output.txt")}"; exit 255 ;;\nesac\n`);
  await chmod(join(dir, "bin", "pulumi"), 0o755);
  const env = { ...process.env, PATH: `${join(dir, "bin")}:${process.env["PATH"]}` };
  const workspace = await openWorkspace(join(dir, "project"), env, "`up --cloud gcp`");
  let streamed = "";
  const failure = await upStack(workspace, { namespace: "alice", config: {}, tags: {}, onOutput: (text) => (streamed += text) }).then(
    () => undefined,
    (error: Error) => error,
  );
  t.match(streamed, /Compute Engine API has not been used/, "Pulumi's own output is still shown as it runs");
  t.ok(failure, "the up fails");
  t.equal(
    failure?.message,
    "pulumi up of stack alice failed: the GCP project tef-olxyz has not enabled APIs the fleet needs: " +
      "Artifact Registry API (artifactregistry.googleapis.com, for the namespace's image registry); " +
      "Compute Engine API (compute.googleapis.com, for the network, firewall rules and VMs). " +
      "Enable every API fieldtest uses, wait a minute or two for it to take effect, then run the same `up` again:\n" +
      `  gcloud services enable ${ALL} --project tef-olxyz`,
  );
});

t.test("every kind of resource the GCP program declares calls an API of the list", async (t) => {
  const { mocks, declared } = fieldtestMocks();
  pulumi.runtime.setAllConfig({
    "fieldtest:target": "gcp",
    "fieldtest:ttl": "1h",
    "fieldtest:expiresAt": isoSeconds(new Date(Date.now() + 3600_000)),
    "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.0/24"]),
    "fieldtest:agents": JSON.stringify([{ name: "node", count: 1 }]),
    "gcp:project": "my-project",
    "gcp:zone": "europe-west1-b",
  });
  await pulumi.runtime.setMocks(mocks, "fieldtest", "apis", false);
  const program = await import("../infra/index.ts");
  await resolved(program.inventory);
  const modules = new Set(declared.filter((r) => r.custom && r.type.startsWith("gcp:")).map((r) => r.type.split(/[:/]/)[1]!));
  t.ok(modules.has("compute") && modules.has("secretmanager"), `the program's modules were read: ${[...modules].join(", ")}`);
  const listed = new Set<string>(GCP_APIS.flatMap((api) => api.modules));
  t.same([...modules].filter((module) => !listed.has(module)), [], "no module without its API in GCP_APIS (and so in the gcloud command and docs/cloud.md)");
});

t.test("docs/cloud.md and the example GCP stack enable the same APIs", async (t) => {
  for (const file of ["docs/cloud.md", "stacks/Pulumi.example-gcp.yaml"]) {
    const text = (await readFile(join(ROOT, file), "utf8")).replace(/\\\n#?\s*/g, " ");
    const command = /gcloud services enable ([a-z0-9. ]+?) --project/.exec(text);
    t.ok(command, `${file} has the gcloud command`);
    t.same(command?.[1]!.split(/\s+/).sort(), GCP_APIS.map((api) => api.service).sort(), file);
  }
});

/** A `gcloud` that lists these services as enabled, and records its arguments. */
async function fakeGcloud(dir: string, enabled: readonly string[]): Promise<{ env: NodeJS.ProcessEnv; calls: () => Promise<string> }> {
  await mkdir(join(dir, "bin"), { recursive: true });
  await writeFile(join(dir, "bin", "gcloud"), `#!/bin/sh\necho "$@" >> "${join(dir, "calls")}"\nprintf '%s\\n' ${enabled.join(" ")}\n`);
  await chmod(join(dir, "bin", "gcloud"), 0o755);
  return { env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` }, calls: () => readFile(join(dir, "calls"), "utf8") };
}

t.test("before anything is made, gcloud's list of enabled APIs names the missing ones", async (t) => {
  const gcloud = await fakeGcloud(await tempHome(t), ["compute.googleapis.com", "artifactregistry.googleapis.com", "storage.googleapis.com"]);
  t.equal(
    await gcpApisProblem("my-project", gcloud.env),
    "the GCP project my-project has not enabled APIs the fleet needs: Secret Manager API (secretmanager.googleapis.com, for the agents' host keys); " +
      "Identity and Access Management (IAM) API (iam.googleapis.com, for the agents' service account). " +
      "Enable every API fieldtest uses, wait a minute or two for it to take effect, then run the same `up` again:\n" +
      `  gcloud services enable ${ALL} --project my-project\nNothing was created.`,
  );
  t.equal(await gcloud.calls(), `${gcloudEnabledServicesArgs("my-project").join(" ")}\n`);
  const all = await fakeGcloud(await tempHome(t), GCP_APIS.map((api) => api.service));
  t.equal(await gcpApisProblem("my-project", all.env), undefined, "all enabled: no problem");
});

t.test("where gcloud cannot tell, the check is left to Google's refusal", async (t) => {
  t.equal(await gcpApisProblem("my-project", { PATH: await tempHome(t) }), undefined, "no gcloud");
});

const realGcloud = findExecutable("gcloud", process.env);
t.test("the real gcloud, logged in to nothing, accepts the arguments, and cannot tell", { skip: realGcloud ? false : "no gcloud on this machine" }, async (t) => {
  const config = await tempHome(t);
  // It parses the arguments first (a usage error exits 2), then finds no account (exit 1).
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
    execFile(realGcloud!, gcloudEnabledServicesArgs("my-project"), { env: { ...process.env, CLOUDSDK_CONFIG: config } }, (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr })),
  );
  t.equal(result.code, 1, `gcloud accepts the arguments: ${result.stderr}`);
  t.notMatch(result.stderr, /unrecognized arguments|Invalid value/);
  t.equal(await gcpApisProblem("my-project", { ...process.env, CLOUDSDK_CONFIG: config }), undefined, "no account: not a problem of the plan");
});

t.test("`up --cloud gcp --dry-run` refuses the plan with the missing APIs (exit 2), having made nothing", async (t) => {
  const home = await tempHome(t);
  const gcloud = await fakeGcloud(home, ["compute.googleapis.com"]);
  const namespace = uniqueNamespace("apis");
  const flags = ["--cloud", "gcp", "--project", "my-project", "--zone", "europe-west1-b", "--ssh-source-range", "203.0.113.7/32", "--namespace", namespace, "--vms", "1"];
  const up = await runCli(["up", ...flags, "--dry-run"], { ...gcloud.env, HOME: home, FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" } as Record<string, string>);
  t.equal(up.code, 2, up.stderr);
  t.match(up.stderr, new RegExp(`^plan: namespace ${namespace} on gcp`), "the plan first");
  t.match(up.stderr, /fieldtest: the GCP project my-project has not enabled APIs the fleet needs: Artifact Registry API[^]*\n {2}gcloud services enable compute\.googleapis\.com artifactregistry\.googleapis\.com secretmanager\.googleapis\.com iam\.googleapis\.com --project my-project\nNothing was created\.\n$/);
  t.notMatch(up.stderr, /dry run: nothing was created/);
});
