// The fieldtest run page: renders /api/state, keeps it current over Server-Sent Events,
// draws pushed metrics with uPlot. Plain script, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#2f6fde", "#e0612b", "#1f8a4c", "#9c3fd1", "#c62828", "#00838f", "#b7791f", "#5d6d7e"];
const LOG_LINES = 200;

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
        series: [{}, ...series.map((s, i) => ({ label: seriesLabel(s.labels), stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
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
function start() {
  setInterval(renderTtl, 1000);
  const events = new EventSource("/api/events");
  const live = $("live");
  events.onopen = () => { live.textContent = "live"; live.className = "badge on"; };
  events.onerror = () => { live.textContent = "reconnecting"; live.className = "badge off"; };
  events.addEventListener("state", (e) => renderState(JSON.parse(e.data)));
  events.addEventListener("logs-all", (e) => resetLogs(JSON.parse(e.data)));
  events.addEventListener("logs", (e) => addLogs(JSON.parse(e.data)));
  events.addEventListener("metrics", () => refreshSeries().catch(showError));
  refreshHistory().catch(showError);
  setInterval(() => refreshHistory().catch(showError), 2000);
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
  $("checks").replaceChildren(...(checks?.checkers ?? []).map((c) => el("li", {}, el("b", {}, c.checker), ` ${c.valid === true ? "valid" : c.valid === false ? "INVALID" : "unknown"}: ${c.summary}`)));
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
  const active = shown.filter((f) => f.stopNs === null).length;
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
        el("td", { class: f.stopNs === null ? "state-firing" : "" }, f.stopNs === null ? `active, heals by ${f.deadline?.slice(11, 19) ?? "?"}` : `${seconds(f.stopNs)} (${f.by})`),
        el("td", {}, el("code", {}, f.params === undefined ? "" : JSON.stringify(f.params))))),
  );
}

function showError(error) {
  const box = $("error");
  box.hidden = false;
  box.textContent = `The page could not load the run's data: ${error.message}`;
}

start();
