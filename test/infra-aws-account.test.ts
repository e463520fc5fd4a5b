// What is account-wide on AWS: IAM names (the same namespace in two regions must not share a
// role), the partition of ARNs (GovCloud and China are not arn:aws:), and the default VPC, which
// a region may lack: asked for, with an error that says how to make one.
import t from "tap";
import { agentRoleName, defaultVpcId } from "../infra/aws.ts";
import { runProgramAt } from "./fixtures/pulumi-mocks.ts";

const now = new Date("2030-01-01T11:00:00Z");
const config = (region: string) => ({
  "fieldtest:target": "aws",
  "aws:region": region,
  "fieldtest:ttl": "1h",
  "fieldtest:expiresAt": "2030-01-01T12:00:00Z",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
  "fieldtest:agents": JSON.stringify([{ name: "node", count: 1 }]),
});
const ofType = (resources: Map<string, { type: string; inputs: Record<string, any> }>, type: string) => [...resources.values()].filter((r) => r.type === type);

t.test("the same namespace in two regions has two IAM roles and instance profiles", async (t) => {
  const names = async (region: string) => {
    const resources = await runProgramAt(now, "alice", config(region));
    return [...ofType(resources, "aws:iam/role:Role"), ...ofType(resources, "aws:iam/instanceProfile:InstanceProfile")].map((r) => r.inputs["name"]);
  };
  const ireland = await names("eu-west-1");
  const sydney = await names("ap-southeast-2");
  t.same(ireland, ["alice-agent-eu-west-1", "alice-agent-eu-west-1"]);
  t.same(ireland.filter((name) => sydney.includes(name)), [], "no IAM name in common");
  t.equal(agentRoleName("abcdefghij-klmnopqrs", "ap-southeast-2").length <= 64, true, "within IAM's 64 characters for the longest namespace");
});

t.test("ARNs take the partition the provider reports, and the security group the default VPC", async (t) => {
  const resources = await runProgramAt(now, "alice", config("eu-west-1"));
  const policy = JSON.parse(ofType(resources, "aws:iam/rolePolicy:RolePolicy")[0]!.inputs["policy"]);
  const hostKeys = policy.Statement.find((statement: { Sid: string }) => statement.Sid === "ReadHostKeys");
  t.equal(hostKeys.Resource, "arn:aws:ssm:eu-west-1:*:parameter/fieldtest/alice/*", "the partition from aws:index/getPartition (the mocks answer aws)");
  t.equal(ofType(resources, "aws:ec2/securityGroup:SecurityGroup")[0]!.inputs["vpcId"], "vpc-0123456789abcdef0");
});

t.test("a region without a default VPC is an error that names the fix", async (t) => {
  t.equal(defaultVpcId(["vpc-1"], "eu-west-1"), "vpc-1");
  t.throws(() => defaultVpcId([], "eu-south-2"), /AWS region eu-south-2 has no default VPC[^]*aws ec2 create-default-vpc --region eu-south-2[^]*Nothing was created/);
});
