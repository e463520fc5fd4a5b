import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { fieldtestMocks } from "./fixtures/pulumi-mocks.ts";

const { mocks, declared } = fieldtestMocks();
pulumi.runtime.setAllConfig({
  "fieldtest:target": "gcp",
  "fieldtest:agents": JSON.stringify([{ name: "node", count: 11, machineType: "e2-standard-2", disk: 10 }]),
  "fieldtest:ttl": "forever",
  "gcp:project": "my-project",
  "gcp:zone": "europe-west1-b",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "alice", false);

t.test("a wrong stack config fails naming each key, before any resource is declared", async (t) => {
  const failure = import("../infra/index.ts");
  await t.rejects(failure, { message: /^invalid fieldtest stack config:/ });
  const message = await failure.then(
    () => "",
    (error: Error) => error.message,
  );
  t.match(message, /fieldtest:agents\[0\]: Unrecognized key: "disk"/);
  t.match(message, /fieldtest:ttl: ttl "forever" is not a duration/);
  t.same(declared, [], "no resource declared");
});
