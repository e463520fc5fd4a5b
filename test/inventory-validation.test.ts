import { join } from "node:path";
import t from "tap";
import { isHostnameOrIp, parseInventory, withTrustedInboxes } from "../src/core/inventory.ts";
import { testInventory } from "./fixtures/inventory.ts";

const withAgent = (changes: Record<string, unknown>) => {
  const inventory = testInventory(1);
  return { ...inventory, agents: [{ ...inventory.agents[0], ...changes }] };
};

t.test("hosts are host names or IP addresses, nothing that could add a known_hosts line", async (t) => {
  for (const host of ["10.0.0.5", "::1", "fe80::1", "agent-1.example.org", "localhost", "a", "ec2-1-2-3-4.compute.amazonaws.com"]) {
    t.ok(isHostnameOrIp(host), host);
  }
  for (const host of ["", "h\nevil ssh-ed25519 AAAA", "a b", "-oProxyCommand=x", "host;rm", "under_score", "a..b", `${"a".repeat(64)}.org`, "[::1]"]) {
    t.notOk(isHostnameOrIp(host), JSON.stringify(host));
  }
  t.throws(() => parseInventory(withAgent({ host: "127.0.0.1\n* ssh-ed25519 AAAAC3Nza" })), /inventory\.agents\.0\.host: must be a host name or an IP address/);
  t.throws(() => parseInventory(withAgent({ internalHost: "10.0.0.1 x" })), /inventory\.agents\.0\.internalHost: must be a host name/);
  t.throws(() => parseInventory(withAgent({ user: "root@evil -o" })), /inventory\.agents\.0\.user: user must be a login name/);
});

t.test("an inventory file's inboxes outside the state directory are dropped", async (t) => {
  const home = "/home/me/.fieldtest";
  const parsed = parseInventory({
    ...testInventory(3),
    agents: testInventory(3).agents.map((agent, i) => ({
      ...agent,
      inbox: { hostPath: [join(home, "ns", "inbox"), "/etc", `${home}/../../../etc`][i]!, agentPath: "/var/lib/fieldtest/inbox" },
    })),
  });
  const { inventory, ignored } = withTrustedInboxes(parsed, home);
  t.same(ignored, ["agent-2", "agent-3"]);
  t.same(inventory.agents.map((a) => a.inbox?.hostPath), [join(home, "ns", "inbox"), undefined, undefined]);
});
