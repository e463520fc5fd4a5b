// Leftovers for `reap`: labelled VMs as gcloud and aws print them, what a stack export tracks,
// and the VMs no stack tracks. The cloud CLIs themselves are not run here.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { awsInstances, gcpInstances, listLabelledInstances, scopesOfStackFiles, trackedKeys, untrackedInstances } from "../src/targets/pulumi/leftovers.ts";
import { tempHome } from "./helpers/fleet.ts";

const gcloudJson = [
  {
    name: "alice-agent-000",
    zone: "https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b",
    status: "RUNNING",
    selfLink: "https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b/instances/alice-agent-000",
    labels: { "fieldtest-namespace": "alice", "fieldtest-expires-at": "1" },
  },
  { name: "gone-agent-000", zone: "projects/p1/zones/europe-west1-b", status: "TERMINATED", labels: { "fieldtest-namespace": "gone" } },
  { name: "unrelated", zone: "projects/p1/zones/europe-west1-b", status: "RUNNING", labels: { team: "x" } },
];

const awsJson = {
  Reservations: [
    {
      Instances: [
        { InstanceId: "i-0aaa", State: { Name: "running" }, Tags: [{ Key: "fieldtest-namespace", Value: "bob" }, { Key: "Name", Value: "bob-agent-000" }] },
        { InstanceId: "i-0bbb", State: { Name: "stopped" }, Tags: [{ Key: "fieldtest-namespace", Value: "old" }] },
        { InstanceId: "i-0ccc", State: { Name: "terminated" }, Tags: [{ Key: "fieldtest-namespace", Value: "old" }] },
      ],
    },
  ],
};

t.test("labelled instances as the cloud CLIs print them", async (t) => {
  t.same(
    gcpInstances(gcloudJson, "p1").map((i) => [i.name, i.namespace, i.where, i.state, i.keys[0]]),
    [
      ["alice-agent-000", "alice", "p1/europe-west1-b", "RUNNING", "projects/p1/zones/europe-west1-b/instances/alice-agent-000"],
      ["gone-agent-000", "gone", "p1/europe-west1-b", "TERMINATED", "projects/p1/zones/europe-west1-b/instances/gone-agent-000"],
    ],
  );
  t.same(
    awsInstances(awsJson, "eu-west-1").map((i) => [i.name, i.namespace, i.state, i.keys]),
    [
      ["bob-agent-000", "bob", "running", ["i-0aaa"]],
      ["i-0bbb", "old", "stopped", ["i-0bbb"]],
    ],
    "terminated instances are gone already",
  );
  t.same(gcpInstances({ error: "x" }, "p1"), []);
  t.same(awsInstances(null, "eu-west-1"), []);
});

t.test("what no stack tracks is a leftover", async (t) => {
  const deployment = {
    resources: [
      { urn: "urn:pulumi:alice::fieldtest::gcp:compute/instance:Instance::alice-agent-000", id: "projects/p1/zones/europe-west1-b/instances/alice-agent-000", outputs: { name: "alice-agent-000" } },
      { urn: "urn:pulumi:bob::fieldtest::aws:ec2/instance:Instance::bob-agent-000", id: "i-0aaa", outputs: {} },
      { urn: "urn:pulumi:bob::fieldtest::pulumi:pulumi:Stack::fieldtest-bob" },
    ],
  };
  const tracked = trackedKeys(deployment);
  const leftovers = untrackedInstances([...gcpInstances(gcloudJson, "p1"), ...awsInstances(awsJson, "eu-west-1")], tracked);
  t.same(leftovers.map((i) => i.name), ["gone-agent-000", "i-0bbb"]);
  t.same(trackedKeys(undefined), new Set());
});

t.test("where to look: the projects and regions of the stack files, not the examples", async (t) => {
  const dir = await tempHome(t);
  await writeFile(join(dir, "Pulumi.alice.yaml"), "config:\n  fieldtest:target: gcp\n  gcp:project: p1\n  gcp:zone: europe-west1-b\n");
  await writeFile(join(dir, "Pulumi.bob.yaml"), "config:\n  fieldtest:target: aws\n  aws:region: eu-west-1\n");
  await writeFile(join(dir, "Pulumi.example-gcp.yaml"), "config:\n  gcp:project: my-project\n");
  await writeFile(join(dir, "Pulumi.empty.yaml"), "");
  const scopes = scopesOfStackFiles(dir);
  t.same(scopes, { gcpProjects: ["p1"], awsRegions: ["eu-west-1"] });
  const listing = await listLabelledInstances(scopes, { PATH: "/nonexistent" });
  t.same(listing, {
    instances: [],
    skipped: ["GCP projects p1: gcloud is not installed", "AWS regions eu-west-1: the aws CLI is not installed"],
  });
});
