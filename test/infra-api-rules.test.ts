// Every name, label, tag and description the program gives a cloud resource, checked against the
// constraints GCP and AWS document for it: mocks accept any string, the clouds answer 400. The
// program runs under mocks for the example stacks, a namespace and group names of the longest
// lengths fieldtest accepts, and two namespaces whose names could run together.
import { readFileSync } from "node:fs";
import t from "tap";
import { parse } from "yaml";
import { runProgramAt, type DeclaredResource } from "./fixtures/pulumi-mocks.ts";

interface Rule {
  /** Where the constraint is documented. */
  doc: string;
  pattern: RegExp;
  min?: number;
  max: number;
}

// https://cloud.google.com/compute/docs/naming-resources#resource-name-format: "1-63 characters
// … match the regular expression [a-z]([-a-z0-9]*[a-z0-9])?" (RFC 1035). Network tags follow the
// same format (https://cloud.google.com/vpc/docs/add-remove-network-tags), and so do Artifact
// Registry repository IDs (https://cloud.google.com/artifact-registry/docs/repositories/create-repos:
// lowercase letters, numbers and hyphens, starting with a letter, ending with a letter or number).
const GCP_NAME: Rule = { doc: "GCP resource name (RFC 1035)", pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/, max: 63 };
// IAM CreateServiceAccountRequest.account_id: "must be 6-30 characters long, and match the regular
// expression [a-z]([-a-z0-9]*[a-z0-9]) to comply with RFC1035".
const GCP_SERVICE_ACCOUNT_ID: Rule = { doc: "GCP service account ID", pattern: /^[a-z]([-a-z0-9]*[a-z0-9])$/, min: 6, max: 30 };
// ServiceAccount.displayName: "The maximum length is 100 UTF-8 bytes".
const GCP_DISPLAY_NAME: Rule = { doc: "GCP service account display name", pattern: /^[\s\S]*$/, max: 100 };
// Secret Manager CreateSecretRequest.secret_id: "a maximum length of 255 characters and can contain
// uppercase and lowercase letters, numerals, and the hyphen (-) and underscore (_) characters".
const GCP_SECRET_ID: Rule = { doc: "GCP Secret Manager secret ID", pattern: /^[A-Za-z0-9_-]+$/, max: 255 };
// https://cloud.google.com/compute/docs/labeling-resources#requirements: keys and values of at most
// 63 characters, lowercase letters, numeric characters, underscores and dashes; keys start with a
// lowercase letter; at most 64 labels.
const GCP_LABEL_KEY: Rule = { doc: "GCP label key", pattern: /^[a-z][a-z0-9_-]*$/, max: 63 };
const GCP_LABEL_VALUE: Rule = { doc: "GCP label value", pattern: /^[a-z0-9_-]*$/, min: 0, max: 63 };

// EC2 CreateSecurityGroup GroupName and GroupDescription, and the Description of an IpRange,
// UserIdGroupPair or PrefixListId (a rule): "Up to 255 characters in length. Valid characters:
// a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*" (the rule pages leave `&` out: so does this).
const EC2_TEXT: Rule = { doc: "EC2 security group name, description or rule description", pattern: /^[a-zA-Z0-9 ._\-:/()#,@[\]+=;{}!$*]*$/, max: 255 };
// ECR CreateRepository repositoryName: 2 to 256 characters,
// (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*
const ECR_REPOSITORY: Rule = { doc: "ECR repository name", pattern: /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/, min: 2, max: 256 };
// IAM CreateRole RoleName: 1 to 64 characters, [\w+=,.@-]+ ; InstanceProfileName and PolicyName:
// 1 to 128 characters, same characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
const IAM_ROLE_NAME: Rule = { doc: "IAM role name", pattern: /^[\w+=,.@-]+$/, max: 64 };
const IAM_NAME_128: Rule = { doc: "IAM instance profile or policy name", pattern: /^[\w+=,.@-]+$/, max: 128 };
// IAM CreateRole Description: up to 1000 characters of [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*.
const IAM_DESCRIPTION: Rule = { doc: "IAM role description", pattern: /^[\t\n\r\u0020-\u007e\u00a1-\u00ff]*$/, min: 0, max: 1000 };
// EC2 ImportKeyPair KeyName: "Constraints: Up to 255 ASCII characters".
const EC2_KEY_NAME: Rule = { doc: "EC2 key pair name", pattern: /^[\u0020-\u007e]+$/, max: 255 };
// SSM PutParameter Name: a-zA-Z0-9_.- and '/' for hierarchies, no "aws"/"ssm" prefix, at most
// 15 levels; 1011 characters for the name itself. Description: up to 1024 characters.
const SSM_NAME: Rule = { doc: "SSM parameter name", pattern: /^(?!\/?(aws|ssm))(\/?[a-zA-Z0-9_.-]+){1,15}$/i, max: 1011 };
const SSM_DESCRIPTION: Rule = { doc: "SSM parameter description", pattern: /^[\s\S]*$/, min: 0, max: 1024 };
// https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html: keys 1 to 128 characters,
// values 0 to 256, letters, numbers, spaces and _ . : / = + - @; keys must not start with aws:.
const AWS_TAG_KEY: Rule = { doc: "AWS tag key", pattern: /^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u, max: 128 };
const AWS_TAG_VALUE: Rule = { doc: "AWS tag value", pattern: /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u, min: 0, max: 256 };
// Docker image references: a tag is [\w][\w.-]{0,127}, repository path components lowercase
// (https://docs.docker.com/reference/cli/docker/image/tag/).
const DOCKER_REFERENCE: Rule = { doc: "Docker image reference", pattern: /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)+:[\w][\w.-]{0,127}$/, max: 4096 };

type Values = (inputs: Record<string, any>) => unknown;
const field =
  (...path: string[]): Values =>
  (inputs) =>
    path.reduce<any>((value, key) => value?.[key], inputs);
const each =
  (list: string, key: string): Values =>
  (inputs) =>
    ((inputs[list] ?? []) as Array<Record<string, unknown>>).map((item) => item[key]);

interface FieldRule {
  field: string;
  values: Values;
  rule: Rule;
  /** A cloud name, unique in its project or account: two namespaces must never share one. */
  unique?: boolean;
}
interface LabelRule {
  field: string;
  values: Values;
  key: Rule;
  value: Rule;
  maxCount: number;
}

const name = (key: string, rule: Rule, unique = true): FieldRule => ({ field: key, values: field(key), rule, unique });
const gcpLabels = (...path: string[]): LabelRule => ({ field: path.join("."), values: field(...path), key: GCP_LABEL_KEY, value: GCP_LABEL_VALUE, maxCount: 64 });
// At most 50 user tags per resource (same tagging page).
const awsTags = (...path: string[]): LabelRule => ({ field: path.join("."), values: field(...path), key: AWS_TAG_KEY, value: AWS_TAG_VALUE, maxCount: 50 });

/** Every resource type the program declares, with the fields each cloud API constrains. */
const RULES: Record<string, { fields: FieldRule[]; labels: LabelRule[] }> = {
  "gcp:compute/network:Network": { fields: [name("name", GCP_NAME)], labels: [] },
  "gcp:compute/subnetwork:Subnetwork": { fields: [name("name", GCP_NAME)], labels: [] },
  "gcp:compute/firewall:Firewall": {
    fields: [name("name", GCP_NAME), { field: "sourceTags", values: field("sourceTags"), rule: GCP_NAME }, { field: "targetTags", values: field("targetTags"), rule: GCP_NAME }],
    labels: [],
  },
  "gcp:compute/instance:Instance": {
    fields: [name("name", GCP_NAME), { field: "tags", values: field("tags"), rule: GCP_NAME }],
    labels: [gcpLabels("labels"), gcpLabels("bootDisk", "initializeParams", "labels")],
  },
  "gcp:artifactregistry/repository:Repository": { fields: [name("repositoryId", GCP_NAME)], labels: [gcpLabels("labels")] },
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": { fields: [], labels: [] },
  "gcp:serviceaccount/account:Account": { fields: [name("accountId", GCP_SERVICE_ACCOUNT_ID), name("displayName", GCP_DISPLAY_NAME, false)], labels: [] },
  "gcp:secretmanager/secret:Secret": { fields: [name("secretId", GCP_SECRET_ID)], labels: [gcpLabels("labels")] },
  "gcp:secretmanager/secretVersion:SecretVersion": { fields: [], labels: [] },
  "gcp:secretmanager/secretIamMember:SecretIamMember": { fields: [], labels: [] },
  "aws:ec2/securityGroup:SecurityGroup": {
    fields: [
      name("name", EC2_TEXT),
      name("description", EC2_TEXT, false),
      { field: "ingress[].description", values: each("ingress", "description"), rule: EC2_TEXT },
      { field: "egress[].description", values: each("egress", "description"), rule: EC2_TEXT },
    ],
    labels: [awsTags("tags")],
  },
  "aws:ecr/repository:Repository": { fields: [name("name", ECR_REPOSITORY)], labels: [awsTags("tags")] },
  "aws:iam/role:Role": { fields: [name("name", IAM_ROLE_NAME), name("description", IAM_DESCRIPTION, false)], labels: [awsTags("tags")] },
  "aws:iam/rolePolicy:RolePolicy": { fields: [name("name", IAM_NAME_128, false)], labels: [] },
  "aws:iam/instanceProfile:InstanceProfile": { fields: [name("name", IAM_NAME_128)], labels: [awsTags("tags")] },
  "aws:ec2/keyPair:KeyPair": { fields: [name("keyName", EC2_KEY_NAME)], labels: [awsTags("tags")] },
  "aws:ssm/parameter:Parameter": { fields: [name("name", SSM_NAME), name("description", SSM_DESCRIPTION, false)], labels: [awsTags("tags")] },
  "aws:ec2/instance:Instance": { fields: [], labels: [awsTags("tags"), awsTags("rootBlockDevice", "tags")] },
  "docker-build:index:Image": { fields: [{ field: "tags", values: field("tags"), rule: DOCKER_REFERENCE }], labels: [] },
  // Made on the machine that runs `pulumi up`, not by a cloud API.
  "tls:index/privateKey:PrivateKey": { fields: [], labels: [] },
};

function breaks(rule: Rule, value: unknown): string | undefined {
  if (typeof value !== "string") return `is ${JSON.stringify(value)}, not a string`;
  const length = [...value].length;
  if (length < (rule.min ?? 1)) return `"${value}" is shorter than ${rule.min ?? 1} characters`;
  if (length > rule.max) return `"${value}" is ${length} characters, more than ${rule.max}`;
  if (!rule.pattern.test(value)) return `"${value}" does not match ${rule.pattern}`;
  return undefined;
}

/** Every broken constraint, as `<type> <resource> <field>: <why> (<rule>)`. */
function violations(resources: Iterable<DeclaredResource>): string[] {
  const found: string[] = [];
  for (const resource of resources) {
    const rules = RULES[resource.type];
    const where = `${resource.type} ${resource.name}`;
    if (!rules) {
      found.push(`${where}: a resource type with no documented rules in this test: add them`);
      continue;
    }
    for (const fieldRule of rules.fields) {
      const raw = fieldRule.values(resource.inputs);
      if (raw === undefined) continue;
      for (const value of Array.isArray(raw) ? raw : [raw]) {
        const why = breaks(fieldRule.rule, value);
        if (why) found.push(`${where} ${fieldRule.field}: ${why} (${fieldRule.rule.doc})`);
      }
    }
    for (const labelRule of rules.labels) {
      const labels = labelRule.values(resource.inputs) as Record<string, unknown> | undefined;
      if (labels === undefined) continue;
      const entries = Object.entries(labels);
      if (entries.length > labelRule.maxCount) found.push(`${where} ${labelRule.field}: ${entries.length} entries, more than ${labelRule.maxCount}`);
      for (const [key, value] of entries) {
        const why = breaks(labelRule.key, key) ?? breaks(labelRule.value, value);
        if (why) found.push(`${where} ${labelRule.field}.${key}: ${why} (${breaks(labelRule.key, key) ? labelRule.key.doc : labelRule.value.doc})`);
      }
    }
  }
  return found;
}

/** The unique cloud names of a run, as `<type> <field>=<name>`. */
function cloudNames(resources: Iterable<DeclaredResource>): Set<string> {
  const names = new Set<string>();
  for (const resource of resources) {
    for (const fieldRule of RULES[resource.type]?.fields ?? []) {
      const value = fieldRule.unique ? fieldRule.values(resource.inputs) : undefined;
      if (typeof value === "string") names.add(`${resource.type} ${fieldRule.field}=${value}`);
    }
  }
  return names;
}

/** Pulumi keeps structured config as JSON strings. */
function stackConfig(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

const now = new Date("2030-01-01T11:00:00Z");
const expiresAt = "2030-01-01T12:00:00Z";
const TARGET_CONFIG: Record<string, Record<string, unknown>> = {
  gcp: { "fieldtest:target": "gcp", "gcp:project": "my-project", "gcp:zone": "europe-west1-b" },
  aws: { "fieldtest:target": "aws", "aws:region": "ap-southeast-2" },
};

for (const target of ["gcp", "aws"]) {
  t.test(`${target}: the example stack's resources follow the cloud's documented rules`, async (t) => {
    const file = new URL(`../stacks/Pulumi.example-${target}.yaml`, import.meta.url);
    const { config } = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const resources = await runProgramAt(now, `example-${target}`, stackConfig(config));
    t.ok(resources.size > 10, `${resources.size} resources declared`);
    t.same(violations(resources.values()), []);
  });

  t.test(`${target}: the longest namespace and group names, with dashes, and every exposure rule follow the rules`, async (t) => {
    // 20 characters, the longest namespace; the group name makes the longest instance name fieldtest accepts (63).
    const namespace = "exp-abcdefghij-klmno";
    const group = "a-group-with-dashes-and-a-longer-name";
    const config = {
      ...TARGET_CONFIG[target],
      "fieldtest:ttl": "1h",
      "fieldtest:expiresAt": expiresAt,
      "fieldtest:owner": "Jean-Luc.O'Neil@example.com",
      "fieldtest:sshSourceRanges": ["203.0.113.7/32"],
      "fieldtest:orchestratorRanges": ["192.0.2.0/24"],
      "fieldtest:openPorts": [{ ports: "30010-30020", protocol: "udp", sourceRanges: ["0.0.0.0/0"] }, { ports: "30050", sourceRanges: ["198.51.100.0/24"] }],
      "fieldtest:agents": [{ name: group, count: 2 }, { name: "orchestrator", count: 1 }],
    };
    const resources = await runProgramAt(now, namespace, stackConfig(config));
    const instance = [...resources.values()].find((r) => r.type.endsWith("/instance:Instance"))!;
    t.equal((instance.inputs["name"] ?? instance.inputs["tags"].Name).length, 63, "an instance name of the longest length");
    t.same(violations(resources.values()), []);
  });

  t.test(`${target}: namespace a with group b-node and namespace a-b with group node share no cloud name`, async (t) => {
    const base = { ...TARGET_CONFIG[target], "fieldtest:ttl": "1h", "fieldtest:expiresAt": expiresAt, "fieldtest:sshSourceRanges": ["203.0.113.7/32"] };
    const first = cloudNames((await runProgramAt(now, "a", stackConfig({ ...base, "fieldtest:agents": [{ name: "b-node", count: 1 }] }))).values());
    const second = cloudNames((await runProgramAt(now, "a-b", stackConfig({ ...base, "fieldtest:agents": [{ name: "node", count: 1 }] }))).values());
    t.ok(first.size > 5 && second.size > 5, "both fleets have cloud names");
    t.same([...first].filter((key) => second.has(key)), [], "no name in common");
  });
}

t.test("a rule this test checks does catch what the clouds refuse", async (t) => {
  const refused = violations([
    { type: "aws:ec2/securityGroup:SecurityGroup", name: "sg", custom: true, inputs: { name: "x", description: "x", ingress: [{ description: "the agents' ports" }] } },
    { type: "gcp:compute/instance:Instance", name: "vm", custom: true, inputs: { name: "a".repeat(64), labels: { "fieldtest-owner": "Bob" } } },
    { type: "gcp:serviceaccount/account:Account", name: "sa", custom: true, inputs: { accountId: "a-b" } },
    { type: "some:new/kind:Kind", name: "k", custom: true, inputs: {} },
  ]);
  t.match(refused, [/ingress\[\]\.description: "the agents' ports" does not match/, /vm name: .* 64 characters/, /vm labels\.fieldtest-owner: "Bob"/, /sa accountId: "a-b" is shorter than 6/, /no documented rules/]);
});
