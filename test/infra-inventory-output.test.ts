import t from "tap";
import { InventoryError } from "../src/core/inventory.ts";
import { validatedInventory } from "../infra/inventory-output.ts";

const header = { target: "gcp", namespace: "alice", createdAt: new Date("2030-01-01T00:00:00Z"), expiresAt: new Date("2030-01-01T02:00:00Z") } as const;
const agent = {
  name: "node-001",
  group: "node",
  host: "203.0.113.5",
  internalHost: "10.42.0.2",
  sshPort: 30000,
  user: "root",
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
  portRange: [30000, 30099],
  labels: { "fieldtest-namespace": "alice" },
};

t.test("a complete inventory passes with ISO timestamps", async (t) => {
  const inventory = validatedInventory(header, [agent]);
  t.equal(inventory.createdAt, "2030-01-01T00:00:00.000Z");
  t.equal(inventory.expiresAt, "2030-01-01T02:00:00.000Z");
  t.same(inventory.agents, [agent]);
});

t.test("a provider answer the runtime cannot use fails naming the field", async (t) => {
  t.throws(() => validatedInventory(header, [{ ...agent, host: "" }]), new InventoryError("the gcp stack produced an invalid inventory:\ninventory.agents.0.host: Too small: expected string to have >=1 characters"));
  t.throws(() => validatedInventory(header, [{ ...agent, hostKey: "-----BEGIN PUBLIC KEY-----" }]), { message: /inventory\.agents\.0\.hostKey: hostKey must be an OpenSSH public key line/ });
  t.throws(() => validatedInventory(header, [agent, agent]), { message: /inventory\.agents\.1\.name: agent name "node-001" appears twice/ });
});
