// The anchored `fieldtest:expiresAt` is the same instant as the labels' and GCP's terminationTime,
// which hold whole seconds: an expiry with milliseconds would put the stack config, the tags and
// the VM's own end a fraction of a second apart, and `extend` would compare different times.
import t from "tap";
import { expiryAfter, isoSeconds, LABELS, namespaceSchema, resourceLabels } from "../src/core/namespace.ts";
import { expiryChange, expiryConfig } from "../src/targets/pulumi/plan.ts";

const now = new Date("2030-01-01T10:00:00.789Z");

t.test("a new expiry is anchored at a whole second and written without milliseconds", async (t) => {
  const change = expiryChange(undefined, 7200, true, now);
  t.equal(change.expiresAt.getTime() % 1000, 0, "whole seconds");
  t.equal(change.expiresAt.toISOString(), "2030-01-01T12:00:01.000Z", "rounded up: the TTL is never short");
  t.same(expiryConfig(change.expiresAt, "2h"), { "fieldtest:expiresAt": { value: "2030-01-01T12:00:01Z" }, "fieldtest:ttl": { value: "2h" } });
  const label = resourceLabels({ namespace: "alice", owner: "alice", expiresAt: change.expiresAt })[LABELS.expiresAt];
  t.equal(Number(label) * 1000, change.expiresAt.getTime(), "the label is the same instant");
  t.equal(isoSeconds(change.expiresAt), "2030-01-01T12:00:01Z", "as GCP's terminationTime takes it");
  t.equal(expiryAfter(60, now).getTime(), Date.parse("2030-01-01T10:01:01Z"));
});

t.test("a namespace cannot hold '--', which separates it from agent names in cloud names", async (t) => {
  t.notOk(namespaceSchema.safeParse("a--b").success);
  t.match(namespaceSchema.safeParse("a--b").error?.issues[0]?.message, /must not hold '--'/);
  t.ok(namespaceSchema.safeParse("a-b").success);
});
