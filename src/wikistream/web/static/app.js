// WikiStream dashboard: polls /api/overview and redraws. No framework, no build step.
// Text from the data (titles, comments, user names) only ever goes in via textContent.
"use strict";

const state = { refreshMs: 5000, charts: {}, user: null, timer: null };
const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tbody, items, build) {
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    build(tr, item);
    return tr;
  });
  tbody.replaceChildren(...rows);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.abs(seconds);
  if (s < 120) return `${Math.round(seconds)} s`;
  if (s < 7200) return `${Math.round(seconds / 60)} min`;
  if (s < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function themed(opts) {
  const style = getComputedStyle(document.body);
  const ink = style.getPropertyValue("--muted").trim() || "#555";
  const grid = style.getPropertyValue("--grid").trim() || "#ddd";
  const axes = opts.axes.map((axis) => ({ ...axis, stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } }));
  return { ...opts, axes };
}

function chart(key, container, opts, data) {
  opts = themed(opts);
  const width = Math.max(240, container.clientWidth);
  const existing = state.charts[key];
  if (existing && existing.series.length === opts.series.length &&
      existing.series.every((s, i) => s.label === opts.series[i].label)) {
    existing.setData(data);
    if (Math.abs(existing.width - width) > 2) existing.setSize({ width, height: existing.height });
    return;
  }
  if (existing) existing.destroy();
  state.charts[key] = new uPlot({ ...opts, width }, data, container);
}

function drawActivity(activity) {
  const names = Object.keys(activity.wikis);
  const series = [{}, { label: "all wikis", stroke: PALETTE[0], width: 2, value: (u, v) => v == null ? "–" : `${v} /min` }];
  names.forEach((name, i) => series.push({ label: name, stroke: PALETTE[(i + 1) % PALETTE.length], width: 1.5 }));
  const data = [activity.times, activity.total, ...names.map((n) => activity.wikis[n])];
  chart("activity", $("activity"), {
    height: 260, series,
    axes: [{}, { label: activity.unit, size: 60 }],
    scales: { x: { time: true } },
  }, data);
}

function drawFailures(gates) {
  const data = [gates.failures_per_hour.times, gates.failures_per_hour.failures];
  chart("failures", $("failures"), {
    height: 140,
    series: [{}, { label: "failed checks", stroke: "#D55E00", fill: "rgba(213,94,0,0.25)", width: 1.5 }],
    axes: [{}, { size: 40 }],
    scales: { x: { time: true } },
  }, data);
}

function drawWikis(wikis) {
  fill($("top-wikis").tBodies[0], wikis, (tr, w) => {
    tr.dataset.domain = w.domain;
    cell(tr, w.domain);
    cell(tr, number.format(w.events), "num");
    cell(tr, w.edits_per_min.toFixed(2), "num");
    cell(tr, percent.format(w.bot_share), "num");
    cell(tr, percent.format(w.anonymous_share), "num");
  });
}

function drawMix(mix) {
  for (const kind of ["human", "bot", "anonymous"]) {
    $(`mix-${kind}`).textContent = percent.format(mix[kind]);
    document.querySelector(`#mix .bar .${kind}`).style.width = `${(mix[kind] * 100).toFixed(2)}%`;
  }
  $("mix-events").textContent = number.format(mix.events);
}

function drawRisk(risk) {
  fill($("risk").tBodies[0], risk, (tr, r) => {
    tr.dataset.user = r.user;
    const first = cell(tr, "");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = r.user;
    button.addEventListener("click", () => showUser(r.user));
    first.appendChild(button);
    cell(tr, r.risk_score.toFixed(1), "num");
    cell(tr, r.risk_level.toLowerCase(), `level ${r.risk_level.toLowerCase()}`);
    cell(tr, r.reasons.join("; "));
  });
}

function drawRiskModel(model) {
  // What a score is worth, measured on held-out labelled edits (docs/risk.md).
  $("risk-model").textContent = model
    ? `Scores are the chance one of the hour's edits is reverted. Per-edit model: ROC-AUC ${model.roc_auc.toFixed(3)} ` +
      `(95 % CI ${model.ci95[0].toFixed(3)}–${model.ci95[1].toFixed(3)}) on ${model.data}; ` +
      `${model.baseline} ${model.baseline_roc_auc.toFixed(3)}.`
    : "The per-edit revert risk has not been evaluated (make eval).";
}

async function showUser(user) {
  state.user = user;
  $("drill-user").textContent = user;
  $("drilldown").hidden = false;
  const edits = await getJson(`/api/users/edits?user=${encodeURIComponent(user)}&limit=50`);
  if (edits === null || state.user !== user) return;
  fill($("user-edits").tBodies[0], edits, (tr, e) => {
    cell(tr, when(e.event_ts));
    cell(tr, e.domain);
    cell(tr, e.title || "");
    cell(tr, e.length_delta === null ? "–" : (e.length_delta > 0 ? "+" : "") + number.format(e.length_delta), "num");
    cell(tr, e.comment || "");
    cell(tr, e.is_revert ? (e.revert_method || "revert") + (e.reverted_user ? ` of ${e.reverted_user}` : "") : "");
  });
}

function drawFeed(list, items, text) {
  const entries = items.map((item) => {
    const li = document.createElement("li");
    const [head, body] = text(item);
    const strong = document.createElement("strong");
    strong.textContent = head;
    li.append(strong, document.createTextNode(` ${body}`));
    return li;
  });
  if (entries.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "none";
    entries.push(li);
  }
  list.replaceChildren(...entries);
}

function drawGates(gates) {
  fill($("gates").tBodies[0], gates.latest, (tr, g) => {
    cell(tr, g.table);
    cell(tr, g.gate, `gate ${g.gate}`);
    cell(tr, g.failed.join(", ") || "–");
    cell(tr, when(g.run_at));
  });
  const held = $("held");
  held.hidden = gates.held.length === 0;
  held.textContent = gates.held.map((h) => `held: ${h.table} (run ${h.run_id})`).join(" · ");
  drawFailures(gates);
}

function drawFreshness(layers) {
  const parts = layers.flatMap((l) => {
    const dt = document.createElement("dt");
    dt.textContent = l.layer;
    const dd = document.createElement("dd");
    dd.id = `fresh-${l.layer}`;
    dd.textContent = ago(l.lag_s);
    dd.title = `${l.table}: newest event ${when(l.newest_event_ts)}`;
    return [dt, dd];
  });
  $("freshness").replaceChildren(...parts);
}

function drawTables(tables) {
  fill($("tables").tBodies[0], tables, (tr, t) => {
    tr.dataset.table = t.table;
    cell(tr, t.table);
    cell(tr, t.exists ? number.format(t.rows) : "(missing)", "num");
    cell(tr, t.exists ? number.format(t.data_files) : "", "num");
    cell(tr, t.exists ? number.format(t.small_files) : "", "num");
    cell(tr, t.snapshots === null ? "" : number.format(t.snapshots), "num");
    cell(tr, ago(t.seconds_since_commit), "num");
  });
}

function drawHealth(view) {
  const badge = $("health");
  badge.textContent = view.healthy ? "healthy" : "unhealthy";
  badge.className = `badge ${view.healthy ? "ok" : "bad"}`;
  const list = $("problems");
  list.hidden = view.problems.length === 0;
  list.replaceChildren(...view.problems.map((p) => {
    const li = document.createElement("li");
    li.textContent = p;
    return li;
  }));
}

async function getJson(url) {
  try {
    const response = await fetch(url, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return await response.json();
  } catch (error) {
    $("health").textContent = "server unreachable";
    $("health").className = "badge bad";
    return null;
  }
}

function draw(view) {
  drawHealth(view);
  $("data-until").textContent = when(view.data_until);
  $("updated").textContent = new Date(view.generated_at).toLocaleTimeString();
  drawActivity(view.activity);
  drawWikis(view.top_wikis);
  drawMix(view.mix);
  drawRisk(view.risk);
  drawRiskModel(view.risk_model);
  drawFeed($("deletions"), view.deletions, (d) =>
    [`${number.format(d.length_delta)} bytes`, `${d.domain}: ${d.title || "?"} by ${d.user || "?"} · ${when(d.event_ts)}`]);
  drawGates(view.gates);
  drawFreshness(view.freshness);
  drawTables(view.tables);
  drawFeed($("alerts"), view.alerts, (a) =>
    [a.severity, `${a.title} · ${when(a.at)} · ${a.delivered_to.length ? "to " + a.delivered_to.join(", ") : "failed on " + a.failed_on.join(", ")}`]);
  document.body.dataset.loaded = "true";
}

async function refresh() {
  const view = await getJson("/api/overview");
  if (view !== null) {
    state.refreshMs = Math.max(1000, view.refresh_s * 1000);
    state.view = view;
    draw(view);
  }
  state.timer = setTimeout(refresh, state.refreshMs);
}

function setupTheme() {
  const stored = localStorage.getItem("wikistream-theme");
  if (stored) document.documentElement.dataset.theme = stored;
  $("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("wikistream-theme", next);
    for (const plot of Object.values(state.charts)) plot.destroy();
    state.charts = {};
    if (state.view) draw(state.view);
  });
}

window.addEventListener("resize", () => {
  for (const [key, plot] of Object.entries(state.charts)) {
    const width = Math.max(240, $(key).clientWidth);
    plot.setSize({ width, height: plot.height });
  }
});

document.addEventListener("DOMContentLoaded", () => {
  setupTheme();
  refresh();
});
