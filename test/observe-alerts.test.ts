import t from "tap";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { alertKey, isPrometheusDuration, renderRulesFile, validateAlertRule } from "../src/observe/alerts.ts";
import { BINARIES, haveBinary } from "./fixtures/binaries.ts";

const rules = [
  { name: "AgentDown", expr: "up == 0", for: "30s", severity: "critical" as const, summary: "{{ $labels.instance }} stopped answering" },
  { name: "SlowPing", expr: "scenario_ping_rtt_seconds > 0.1" },
];

t.test("validation names the field and the fix", async (t) => {
  t.same(validateAlertRule(rules[1]!), { name: "SlowPing", expr: "scenario_ping_rtt_seconds > 0.1", for: "0s", severity: "warning" });
  t.throws(() => validateAlertRule({ name: "has space", expr: "up" }), /alert "has space": name must match/);
  t.throws(() => validateAlertRule({ name: "A", expr: "  " }), /alert "A": expr must be a non-empty PromQL expression/);
  t.throws(() => validateAlertRule({ name: "A", expr: "up", for: "5 minutes" }), /alert "A": for must be a Prometheus duration such as "30s"/);
  t.throws(() => validateAlertRule({ name: "A", expr: "up", severity: "page" as never }), /severity must be one of info, warning, critical, got "page"/);
  t.ok(isPrometheusDuration("1h30m") && isPrometheusDuration("500ms") && isPrometheusDuration("2w"));
  t.notOk(isPrometheusDuration("") || isPrometheusDuration("30m1h") || isPrometheusDuration("1.5s"));
  t.equal(alertKey({ labels: { b: "2", a: "1" } }), alertKey({ labels: { a: "1", b: "2" } }), "label order does not matter");
});

t.test("rules file", async (t) => {
  const text = renderRulesFile(rules);
  t.same(parse(text), {
    groups: [
      {
        name: "fieldtest",
        rules: [
          { alert: "AgentDown", expr: "up == 0", for: "30s", labels: { severity: "critical" }, annotations: { summary: "{{ $labels.instance }} stopped answering" } },
          { alert: "SlowPing", expr: "scenario_ping_rtt_seconds > 0.1", for: "0s", labels: { severity: "warning" } },
        ],
      },
    ],
  });
  t.throws(() => renderRulesFile([rules[0]!, rules[0]!]), /alert "AgentDown": name appears twice/);
  t.same(parse(renderRulesFile([])), { groups: [{ name: "fieldtest", rules: [] }] });
});

t.test("promtool check rules accepts the rules file", async (t) => {
  if (!haveBinary(t, "promtool")) return;
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-rules-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "rules.yml");
  await writeFile(path, renderRulesFile(rules));
  const { stdout } = await promisify(execFile)(BINARIES.promtool.path, ["check", "rules", path]);
  t.match(stdout, /SUCCESS: 2 rules found/);

  await writeFile(path, renderRulesFile([{ name: "Broken", expr: "sum(" }]));
  await t.rejects(promisify(execFile)(BINARIES.promtool.path, ["check", "rules", path]), /FAILED/, "promtool catches what JavaScript does not parse");
});
