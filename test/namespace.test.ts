import t from "tap";
import { belongsToNamespace, expiresAtFromLabels, formatDuration, LABELS, labelValue, namespaceSchema, parseTtl, resourceLabels } from "../src/core/namespace.ts";

t.test("namespaces are short lowercase DNS labels", async (t) => {
  for (const ok of ["alice", "a", "exp-42", "a".repeat(20)]) t.ok(namespaceSchema.safeParse(ok).success, ok);
  for (const bad of ["", "Alice", "1alice", "alice-", "al_ice", "a".repeat(21), "alice test"]) {
    t.notOk(namespaceSchema.safeParse(bad).success, JSON.stringify(bad));
  }
});

t.test("TTL durations", async (t) => {
  t.equal(parseTtl("90s"), 90);
  t.equal(parseTtl("30m"), 1800);
  t.equal(parseTtl("2h"), 7200);
  t.equal(parseTtl("1d"), 86400);
  t.equal(parseTtl("1h30m"), 5400);
  t.throws(() => parseTtl("2 hours"), /not a duration/);
  t.throws(() => parseTtl(""), /not a duration/);
  t.throws(() => parseTtl("1s"), /shorter than the minimum/);
  t.throws(() => parseTtl("31d"), /longer than the maximum/);
  t.equal(formatDuration(5400), "1h30m");
  t.equal(formatDuration(-1), "expired");
});

t.test("labels: three keys, exact namespace match, GCP-safe values", async (t) => {
  const labels = resourceLabels({ namespace: "alice", expiresAt: new Date(1_800_000_000_000), owner: "Bob.Smith@corp" });
  t.same(labels, { [LABELS.namespace]: "alice", [LABELS.expiresAt]: "1800000000", [LABELS.owner]: "bob-smith-corp" });
  t.ok(belongsToNamespace(labels, "alice"));
  t.notOk(belongsToNamespace({ [LABELS.namespace]: "alice-test" }, "alice"), "alice-test is not alice");
  t.notOk(belongsToNamespace({ [LABELS.namespace]: "alice" }, "alice-test"));
  t.equal(labelValue(""), "unknown");
});

t.test("an expiry label is unix seconds, and anything else is no expiry (never 1970)", async (t) => {
  t.same(expiresAtFromLabels({ [LABELS.expiresAt]: "1800000000" }), new Date(1_800_000_000_000));
  for (const raw of ["", "soon", "-60", "1.8e9", " 1800000000"]) t.equal(expiresAtFromLabels({ [LABELS.expiresAt]: raw }), undefined, JSON.stringify(raw));
  t.equal(expiresAtFromLabels({}), undefined);
  t.equal(expiresAtFromLabels(undefined), undefined);
});
