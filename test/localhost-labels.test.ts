// The localhost inventory is read back from container labels alone: what each label becomes,
// and what a namespace's set of containers adds up to.
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { AGENT_INBOX, AGENT_LABELS, inventoryFromContainers, type LabelledContainer } from "../src/targets/docker-engine/labels.ts";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE";

function container(name: string, first: number, extra: Record<string, string> = {}): LabelledContainer {
  return {
    Id: `id-${name}`,
    Labels: {
      [LABELS.namespace]: "alice",
      [LABELS.owner]: "tap",
      [LABELS.expiresAt]: "1800003600",
      [AGENT_LABELS.agent]: name,
      [AGENT_LABELS.sshPort]: String(first),
      [AGENT_LABELS.portRange]: `${first}-${first + 99}`,
      [AGENT_LABELS.hostKey]: HOST_KEY,
      [AGENT_LABELS.createdAt]: "2027-01-15T08:00:10.000Z",
      [AGENT_LABELS.image]: "debian",
      ...extra,
    },
  };
}

t.test("each agent's labels become its inventory entry", async (t) => {
  const inventory = inventoryFromContainers("alice", [
    container("agent-002", 30100, { [AGENT_LABELS.inbox]: "/home/a/inbox", [LABELS.expiresAt]: "1800000000", [AGENT_LABELS.createdAt]: "2027-01-15T08:00:00.000Z" }),
    container("agent-001", 30000),
    // A container that serves the namespace's runs (Grafana) carries the namespace, not an agent name.
    { Id: "grafana", Labels: { [LABELS.namespace]: "alice", [LABELS.expiresAt]: "1700000000" } },
  ]);
  t.same(inventory, {
    namespace: "alice",
    target: "localhost",
    createdAt: "2027-01-15T08:00:00.000Z",
    expiresAt: new Date(1_800_000_000_000).toISOString(),
    agents: [
      {
        name: "agent-001",
        host: "127.0.0.1",
        sshPort: 30000,
        user: "root",
        hostKey: HOST_KEY,
        portRange: [30000, 30099],
        labels: { [LABELS.namespace]: "alice", [LABELS.expiresAt]: "1800003600", [LABELS.owner]: "tap", image: "debian", network: "host" },
      },
      {
        name: "agent-002",
        host: "127.0.0.1",
        sshPort: 30100,
        user: "root",
        hostKey: HOST_KEY,
        portRange: [30100, 30199],
        labels: { [LABELS.namespace]: "alice", [LABELS.expiresAt]: "1800000000", [LABELS.owner]: "tap", image: "debian", network: "host" },
        inbox: { hostPath: "/home/a/inbox", agentPath: AGENT_INBOX },
      },
    ],
  }, "sorted by name, the earliest creation and expiry, the service container left out");
});

t.test("agents on SSH hosts keep the host's address and their target", async (t) => {
  const inventory = inventoryFromContainers("alice", [container("agent-001", 30000, { [AGENT_LABELS.target]: "ssh", [AGENT_LABELS.address]: "192.0.2.7" })]);
  t.equal(inventory.target, "ssh");
  t.equal(inventory.agents[0]?.host, "192.0.2.7");
});

t.test("labels that do not make an agent fail naming the field", async (t) => {
  t.throws(() => inventoryFromContainers("alice", [container("agent-001", 30000, { [AGENT_LABELS.portRange]: "30000" })]), /the Docker labels of namespace alice is not a valid fieldtest inventory:\ninventory\.agents\.0\.portRange/);
  t.throws(() => inventoryFromContainers("alice", [container("agent-001", 30000, { [AGENT_LABELS.hostKey]: "" })]), /inventory\.agents\.0\.hostKey: hostKey must be an OpenSSH public key/);
});
