import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { fieldtestMocks } from "./fixtures/pulumi-mocks.ts";

// The ssh target is valid stack config, but its hosts exist already: the CLI enrols them over ssh.
const { mocks, declared } = fieldtestMocks();
pulumi.runtime.setAllConfig({
  "fieldtest:target": "ssh",
  "fieldtest:sshHosts": JSON.stringify([{ host: "192.0.2.10", port: 2222, user: "ops" }]),
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "lab", false);

t.test("target ssh is refused with the command that provisions it, before any resource", async (t) => {
  await t.rejects(import("../infra/index.ts"), {
    message: /^fieldtest:target: ssh hosts are not provisioned by this Pulumi program: use `fieldtest up --ssh-host \.\.\.`/,
  });
  t.same(declared, []);
});
