// The fieldtest run page: renders /api/state, keeps it current over Server-Sent Events,
// draws pushed metrics with uPlot. Plain script, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#2f6fde", "#e0612b", "#1f8a4c", "#9c3fd1", "#c62828", "#00838f", "#b7791f", "#5d6d7e"];
const LOG_LINES = 200;
/** Metrics that hold a value until the next sample (a fault is on or off): drawn as steps, not ramps. */
const STEP_METRICS = new Set(["fieldtest_fault_active"]);
/** Set once the server says the run has ended: the page then shows the final state and stops asking. */
let runEnded = false;

/** Element helper: children are nodes or text, never parsed HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function formatDuration(seconds) {
  if (seconds <= 0) return "expired";
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  return [d && `${d}d`, h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean).slice(0, 2).join("") || "0s";
}

// The TTL counts down from the server's figure on this page's monotonic clock, so a skewed
// browser clock does not matter.
let ttlDeadline = null;
function ttlRemaining() {
  return ttlDeadline === null ? null : Math.round((ttlDeadline - performance.now()) / 1000);
}
function renderTtl() {
  const left = ttlRemaining();
  const text = left === null ? "…" : formatDuration(left);
  $("ttl").textContent = text;
  for (const cell of document.querySelectorAll("td.ttl")) cell.textContent = text;
}

function renderState(state) {
  if (state.ended && !runEnded) endRun();
  document.title = `fieldtest · ${state.scenario} · ${state.phase}`;
  $("scenario").textContent = state.scenario;
  $("namespace").textContent = state.namespace;
  $("target").textContent = state.target;
  $("phase").textContent = state.phase;
  const result = $("result");
  result.textContent = state.result.status + (state.result.error ? `: ${state.result.error}` : "");
  result.className = `badge ${state.result.status}`;
  const error = $("error");
  error.hidden = !state.result.error;
  error.textContent = state.result.error ? `Run failed: ${state.result.error}` : "";
  ttlDeadline = performance.now() + state.ttlRemainingSeconds * 1000;

  $("agent-count").textContent = `(${state.agents.length})`;
  $("agents").tBodies[0].replaceChildren(
    ...state.agents.map((a) =>
      el("tr", { "data-agent": a.name },
        el("td", {}, el("b", {}, a.name)),
        el("td", {}, `${a.user}@${a.host}`),
        el("td", {}, a.sshPort),
        el("td", {}, `${a.portRange[0]}–${a.portRange[1]}`),
        el("td", {}, a.image ?? "—"),
        el("td", { class: "ttl" }, ""))),
  );
  renderTtl();

  $("services").replaceChildren(...state.services.map((s) => el("li", {}, el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.name), " ", el("span", { class: "muted" }, s.url))));

  const firing = new Map(state.activeAlerts.map((a) => [a.name, a.state]));
  $("alerts").tBodies[0].replaceChildren(
    ...state.alertRules.map((r) => {
      const now = firing.get(r.name) ?? "inactive";
      return el("tr", {}, el("td", {}, r.name), el("td", {}, r.severity), el("td", { class: `state-${now}` }, now), el("td", {}, el("code", {}, r.expr)));
    }),
  );
  $("no-alerts").hidden = state.alertRules.length > 0;

  $("debug").replaceChildren(
    ...state.agents.map((a) =>
      el("div", { class: "cmd" },
        el("span", { class: "agent" }, a.name),
        el("code", {}, a.ssh),
        el("button", { onclick: (e) => navigator.clipboard?.writeText(a.ssh).then(() => (e.target.textContent = "copied")) }, "copy"))),
  );
}

// Daemon logs: one box per agent+daemon, the newest LOG_LINES lines each.
const logBoxes = new Map();
function logBox(agent, daemon) {
  const key = `${agent}/${daemon}`;
  let box = logBoxes.get(key);
  if (!box) {
    const pre = el("pre", { "data-stream": key });
    $("logs").append(el("div", { class: "log" }, el("h3", {}, key), pre));
    box = { pre, lines: [] };
    logBoxes.set(key, box);
    $("no-logs").hidden = true;
  }
  return box;
}
function addLogs(lines) {
  const touched = new Set();
  for (const l of lines) {
    const box = logBox(l.agent, l.daemon);
    box.lines.push(`${l.time.slice(11, 19)} ${l.line}`);
    if (box.lines.length > LOG_LINES) box.lines.splice(0, box.lines.length - LOG_LINES);
    touched.add(box);
  }
  for (const box of touched) {
    const atBottom = box.pre.scrollHeight - box.pre.scrollTop - box.pre.clientHeight < 20;
    box.pre.textContent = box.lines.join("\n");
    if (atBottom) box.pre.scrollTop = box.pre.scrollHeight;
  }
}

// Charts: one per metric name, one line per label set, x aligned with uPlot.join.
const charts = new Map();
function seriesLabel(labels) {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(", ") : "value";
}
/** uPlot stretches a single point's time axis over years: show a minute around it instead. */
function timeRange(u, min, max) {
  const xs = u.data[0];
  return xs.length === 1 ? [xs[0] - 30, xs[0] + 30] : [min, max];
}
function renderSeries(list) {
  const byName = new Map();
  for (const s of list) {
    if (!byName.has(s.name)) byName.set(s.name, []);
    byName.get(s.name).push(s);
  }
  $("no-metrics").hidden = byName.size > 0;
  for (const [name, series] of byName) {
    const data = uPlot.join(series.map((s) => [s.t, s.v]));
    const labels = series.map((s) => seriesLabel(s.labels)).join("|");
    const existing = charts.get(name);
    if (existing && existing.labels === labels) {
      existing.plot.setData(data);
      existing.latest.textContent = latestText(series);
      continue;
    }
    existing?.node.remove();
    existing?.plot.destroy();
    const latest = el("p", { class: "muted" }, latestText(series));
    const node = el("div", { class: "chart", "data-metric": name }, el("h3", {}, name, " ", el("span", { class: "muted" }, series[0].type)), latest);
    $("charts").append(node);
    const plot = new uPlot(
      {
        width: Math.max(300, node.clientWidth),
        height: 200,
        scales: { x: { time: true, range: timeRange } },
        series: [{}, ...series.map((s, i) => ({ label: seriesLabel(s.labels), stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, ...(STEP_METRICS.has(name) ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}) }))],
        axes: [{}, { size: 60 }],
      },
      data,
      node,
    );
    charts.set(name, { node, plot, labels, latest });
  }
}
function latestText(series) {
  return series.map((s) => `${seriesLabel(s.labels)}: ${s.v.length ? s.v[s.v.length - 1] : "—"}`).join(" · ");
}
async function refreshSeries() {
  const response = await fetch("/api/metrics/series");
  if (response.ok) renderSeries((await response.json()).series);
}

function resetLogs(lines) {
  for (const box of logBoxes.values()) box.pre.parentElement.remove();
  logBoxes.clear();
  $("no-logs").hidden = false;
  addLogs(lines);
}

// The server opens every (re)connection with the full state, all recent log lines and a
// metrics tick, so nothing is missed across a reconnect.
const page = { events: null, timers: [] };
function start() {
  setInterval(renderTtl, 1000);
  const events = (page.events = new EventSource("/api/events"));
  const live = $("live");
  events.onopen = () => { live.textContent = "live"; live.className = "badge on"; };
  events.onerror = () => {
    if (runEnded) return;
    live.textContent = "reconnecting";
    live.className = "badge off";
  };
  events.addEventListener("state", (e) => renderState(JSON.parse(e.data)));
  events.addEventListener("logs-all", (e) => resetLogs(JSON.parse(e.data)));
  events.addEventListener("logs", (e) => addLogs(JSON.parse(e.data)));
  events.addEventListener("metrics", () => refreshSeries().catch(showError));
  refreshHistory().catch(showError);
  page.timers.push(setInterval(() => refreshHistory().catch(showError), 2000));
}

/**
 * The run is over and its runner about to exit: fetch the last metrics, history and checks
 * once, then let go of the server (which waits for that), so nothing on the page says
 * "reconnecting" or fails to fetch.
 */
function endRun() {
  runEnded = true;
  for (const timer of page.timers) clearInterval(timer);
  const live = $("live");
  live.textContent = "run ended";
  live.className = "badge off";
  Promise.allSettled([refreshHistory(), refreshSeries()]).finally(() => page.events?.close());
}

// history.jsonl, followed by byte offset: the newest events and the checkers' verdicts.
const HISTORY_EVENTS = 15;
const historyView = { next: 0, ops: 0, events: [] };
async function refreshHistory() {
  const response = await fetch(`/api/history?from=${historyView.next}`);
  if (!response.ok) return;
  const { entries, next } = await response.json();
  historyView.next = next;
  for (const entry of entries) {
    if (entry.kind === "header") faultView.startedAtMs = Date.parse(entry.startedAt);
    if (entry.kind === "op") historyView.ops += 1;
    else if (entry.kind === "event") historyView.events.push(entry);
    if (entry.kind === "event") recordFaultEvent(entry);
    faultView.latestNs = Math.max(faultView.latestNs, entry.time ?? 0);
  }
  renderFaults();
  historyView.events = historyView.events.slice(-HISTORY_EVENTS);
  if (historyView.events.length === 0 && historyView.ops === 0) return;
  $("history-card").hidden = false;
  $("history-count").textContent = `${historyView.ops} operation(s)`;
  $("history-events").replaceChildren(...historyView.events.map((e) => el("li", {}, `${(e.time / 1e9).toFixed(1)}s ${e.type} ${e.data === undefined ? "" : JSON.stringify(e.data)}`)));
  const { checks } = await (await fetch("/api/checks")).json();
  renderChecks(checks);
}

// The checkers' results, once the run has checked its history: each verdict, its summary, and
// the anomalies the checker reported (every field besides checker, valid and summary).
const ANOMALY_TEXT = 2000;
function verdictOf(c) {
  if (c.notApplicable) return "not applicable";
  return c.valid === true ? "valid" : c.valid === false ? "INVALID" : "unknown";
}
function renderChecks(checks) {
  if (!checks || !Array.isArray(checks.checkers) || checks.checkers.length === 0) return;
  $("checks-card").hidden = false;
  $("checks-verdict").textContent = verdictOf({ valid: checks.valid });
  $("checks-verdict").className = `badge ${checks.valid === true ? "passed" : checks.valid === false ? "failed" : "off"}`;
  $("checks").tBodies[0].replaceChildren(
    ...checks.checkers.map((c) => {
      const { checker, valid, summary, notApplicable, ...anomalies } = c;
      const text = JSON.stringify(anomalies, null, 1);
      return el("tr", { "data-checker": String(checker) },
        el("td", {}, el("b", {}, String(checker))),
        el("td", { class: valid === false ? "state-firing" : "" }, verdictOf(c)),
        el("td", {}, String(summary ?? "")),
        el("td", {}, el("pre", { class: "anomalies" }, text.length > ANOMALY_TEXT ? `${text.slice(0, ANOMALY_TEXT)}…` : text)));
    }),
  );
}

// Fault windows, from the fault-start / fault-stop events of the history (the same events
// cloud.faults records there): one lane per fault, its bar from start to stop, or to now while
// it is active. Times are the history's, in seconds since the run started.
const FAULT_LANES = 50;
const faultView = { faults: new Map(), startedAtMs: null, latestNs: 0 };
function recordFaultEvent(entry) {
  const data = entry.data ?? {};
  if (entry.type === "fault-start") {
    faultView.faults.set(data.id, { ...data, startNs: entry.time, stopNs: null, by: null });
  } else if (entry.type === "fault-stop") {
    const fault = faultView.faults.get(data.id);
    // A stop without its start (the page joined late, or the start was cut from the page) still shows from 0.
    if (fault) Object.assign(fault, { stopNs: entry.time, by: data.by });
    else faultView.faults.set(data.id, { ...data, startNs: 0, stopNs: entry.time });
  }
}
/** The run's time now, in ns: the history's latest entry, or later by this browser's clock. */
function runNowNs() {
  const byClock = faultView.startedAtMs === null ? 0 : (Date.now() - faultView.startedAtMs) * 1e6;
  return Math.max(faultView.latestNs, byClock);
}
const seconds = (ns) => `${(ns / 1e9).toFixed(1)}s`;
function renderFaults() {
  if (faultView.faults.size === 0) return;
  $("faults-card").hidden = false;
  const shown = [...faultView.faults.values()].slice(-FAULT_LANES);
  const endNs = Math.max(runNowNs(), 1);
  const active = runEnded ? 0 : shown.filter((f) => f.stopNs === null).length;
  $("fault-count").textContent = `(${faultView.faults.size}, ${active} active)`;
  $("fault-axis-end").textContent = seconds(endNs);
  $("fault-timeline").replaceChildren(
    ...shown.map((f) => {
      const stopNs = f.stopNs ?? endNs;
      const left = (100 * f.startNs) / endNs;
      const width = Math.max(0.5, (100 * (stopNs - f.startNs)) / endNs);
      const title = `${f.kind} ${f.id} on ${f.targets.join(", ")}: ${seconds(f.startNs)} → ${f.stopNs === null ? "active" : `${seconds(f.stopNs)} (${f.by})`}`;
      return el("div", { class: "fault-lane", "data-fault": f.id, "data-state": f.stopNs === null ? "active" : "healed" },
        el("span", { class: "fault-label" }, `${f.kind} ${f.id}`),
        el("div", { class: "fault-track" }, el("div", { class: `fault-bar kind-${f.kind}`, style: `left:${left.toFixed(2)}%;width:${Math.min(width, 100 - left).toFixed(2)}%`, title })));
    }),
  );
  $("faults").tBodies[0].replaceChildren(
    ...shown.map((f) =>
      el("tr", { "data-fault": f.id },
        el("td", {}, f.kind),
        el("td", {}, el("code", {}, f.id)),
        el("td", {}, f.targets.join(", ")),
        el("td", {}, f.mechanism ?? "—"),
        el("td", {}, seconds(f.startNs)),
        el("td", { class: f.stopNs === null ? "state-firing" : "" }, f.stopNs !== null ? `${seconds(f.stopNs)} (${f.by})` : runEnded ? "no heal recorded before the run ended" : `active, heals by ${f.deadline?.slice(11, 19) ?? "?"}`),
        el("td", {}, el("code", {}, f.params === undefined ? "" : JSON.stringify(f.params))))),
  );
}

function showError(error) {
  // After the end the runner is gone by design: a late fetch failing says nothing about the run.
  if (runEnded) return;
  const box = $("error");
  box.hidden = false;
  box.textContent = `The page could not load the run's data: ${error.message}`;
}

start();
