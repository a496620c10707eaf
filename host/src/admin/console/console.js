// The Switchyard console: polls /console.json about once a second and draws it.
// Every string from the proxy is written as text (textContent), never as markup.
"use strict";

const POLL_MS = 1000;
// Rates, shares and quantiles are taken over this window; charts keep HISTORY_MS.
const WINDOW_MS = 5000;
const HISTORY_MS = 5 * 60 * 1000;
const COLOURS = ["#2a6fdb", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#5c940d"];

const samples = []; // {at, clusters: Map(name -> Map(address -> counters))}
const series = new Map(); // cluster -> {at: [], endpoints: Map(address -> {share: [], p99: []}), colours: Map}
let edges = []; // each latency bucket's upper edge, seconds
const views = new Map(); // cluster -> its DOM
let token = sessionStorage.getItem("switchyard-admin-token");

const $ = (id) => document.getElementById(id);

// An element with attributes and children (strings become text nodes).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function status(text, bad) {
  const s = $("status");
  s.textContent = text;
  s.className = bad ? "status bad" : "status";
}

const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : (x * 100).toFixed(1) + "%");
const ms = (s) => (s === null || s === undefined ? "–" : s === Infinity ? "> " + edges[edges.length - 2].toFixed(0) + " s" : s < 0.001 ? (s * 1e6).toFixed(0) + " µs" : (s * 1e3).toFixed(1) + " ms");
const when = (ms_) => new Date(ms_).toLocaleTimeString();
const short = (sha) => (sha ? String(sha).replace(/^sha256:/, "").slice(0, 12) : "–");

// The q quantile (a bucket's upper edge) of the observations between two histograms
// ([bucket, count] pairs).
function quantile(now, before, q) {
  const earlier = new Map(before);
  const delta = now.map(([bucket, count]) => [bucket, count - (earlier.get(bucket) || 0)]);
  const total = delta.reduce((sum, [, c]) => sum + c, 0);
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [bucket, count] of delta) {
    seen += count;
    if (seen >= rank) return edges[bucket] === null ? Infinity : edges[bucket];
  }
  return null;
}

// The sample at least WINDOW_MS before the newest (or the oldest kept).
function baseline(at) {
  for (let i = samples.length - 2; i >= 0; i--) {
    if (at - samples[i].at >= WINDOW_MS) return samples[i];
  }
  return samples.length > 1 ? samples[0] : null;
}

// Each endpoint's rates over the window: requests/s, share, error rate, p50, p99.
function rates(cluster, at) {
  const base = baseline(at);
  const before = base && base.clusters.get(cluster.name);
  const seconds = base ? (at - base.at) / 1000 : 0;
  const figures = new Map();
  let total = 0;
  for (const e of cluster.endpoints) {
    let prev = before && before.get(e.address);
    // An endpoint that left and came back, or a cluster rebuilt, counts from zero
    // again: no window until the next samples.
    if (prev && (prev.id !== e.id || prev.requests > e.requests || prev.failures > e.failures)) prev = null;
    const requests = prev ? e.requests - prev.requests : 0;
    const failures = prev ? e.failures - prev.failures : 0;
    total += requests;
    figures.set(e.address, {
      requests,
      rate: prev && seconds > 0 ? requests / seconds : null,
      errors: requests > 0 ? failures / requests : null,
      p50: prev ? quantile(e.latency_buckets, prev.latency_buckets, 0.5) : null,
      p99: prev ? quantile(e.latency_buckets, prev.latency_buckets, 0.99) : null,
    });
  }
  for (const f of figures.values()) f.share = total > 0 ? f.requests / total : null;
  return figures;
}

// Keeps what the windows need of this poll, timed by the proxy's clock.
function remember(data) {
  const clusters = new Map();
  for (const c of data.clusters) {
    clusters.set(c.name, new Map(c.endpoints.map((e) => [e.address,
      { id: e.id, requests: e.requests, failures: e.failures, latency_buckets: e.latency_buckets }])));
  }
  const at = data.at_ms;
  samples.push({ at, clusters });
  while (samples.length > 2 && at - samples[1].at > WINDOW_MS * 2) samples.shift();
  return at;
}

function record(cluster, figures, at) {
  let s = series.get(cluster.name);
  if (!s) {
    s = { at: [], endpoints: new Map(), colours: new Map() };
    series.set(cluster.name, s);
  }
  s.at.push(at);
  for (const e of cluster.endpoints) {
    // An endpoint keeps its colour for as long as the charts show it.
    if (!s.colours.has(e.address)) s.colours.set(e.address, COLOURS[s.colours.size % COLOURS.length]);
    if (!s.endpoints.has(e.address)) {
      s.endpoints.set(e.address, { share: new Array(s.at.length - 1).fill(null), p99: new Array(s.at.length - 1).fill(null) });
    }
  }
  for (const [address, line] of s.endpoints) {
    const f = figures.get(address);
    line.share.push(f ? f.share : null);
    line.p99.push(f ? f.p99 : null);
  }
  while (s.at.length && at - s.at[0] > HISTORY_MS) {
    s.at.shift();
    for (const line of s.endpoints.values()) {
      line.share.shift();
      line.p99.shift();
    }
  }
  for (const [address, line] of s.endpoints) {
    if (!figures.has(address) && line.share.every((v) => v === null)) {
      s.endpoints.delete(address);
      s.colours.delete(address);
    }
  }
  return s;
}

// Lines of `key` per endpoint over the last HISTORY_MS; `fixed` is the y range's top
// when it has one (shares), else the largest value seen.
function chart(canvas, s, key, colours, fixed, label) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  let top = fixed || 0;
  if (!fixed) {
    for (const line of s.endpoints.values()) for (const v of line[key]) if (v !== null && v > top) top = v;
  }
  g.fillStyle = "#5f6b7a";
  g.font = "11px system-ui, sans-serif";
  g.fillText(top ? label(top) : "no traffic yet", 4, 12);
  if (!top || s.at.length < 2) return;
  // The span grows with the data, from 30 s to HISTORY_MS.
  const now = s.at[s.at.length - 1];
  const span = Math.min(HISTORY_MS, Math.max(30000, now - s.at[0]));
  const x = (at) => width - ((now - at) / span) * width;
  const y = (v) => height - 2 - (v / top) * (height - 18);
  for (const [address, line] of s.endpoints) {
    g.strokeStyle = colours.get(address) || "#888";
    g.lineWidth = 1.5;
    g.beginPath();
    let drawing = false;
    line[key].forEach((v, i) => {
      if (v === null) {
        drawing = false;
        return;
      }
      if (drawing) g.lineTo(x(s.at[i]), y(v));
      else g.moveTo(x(s.at[i]), y(v));
      drawing = true;
    });
    g.stroke();
  }
}

function clusterView(name) {
  let view = views.get(name);
  if (view) return view;
  const meta = el("p", { class: "meta" });
  const share = el("canvas", { "aria-label": "share of requests per endpoint" });
  const latency = el("canvas", { "aria-label": "p99 latency per endpoint" });
  const tbody = el("tbody");
  const table = el("table", {},
    el("thead", {}, el("tr", {}, ...["endpoint", "health", "verdict", "weight", "in flight", "req/s", "share", "p50", "p99", "errors"].map((h) => el("th", {}, h)))),
    tbody);
  const article = el("article", { class: "cluster", "data-cluster": name },
    el("h2", {}, "cluster ", el("span", { class: "name" }, name)),
    meta,
    el("div", { class: "charts" },
      el("figure", {}, el("figcaption", {}, "share of requests (up to the last 5 minutes)"), share),
      el("figure", {}, el("figcaption", {}, "p99 latency (up to the last 5 minutes)"), latency)),
    el("div", { class: "table-wrap" }, table));
  $("clusters").append(article);
  view = { article, meta, share, latency, tbody };
  views.set(name, view);
  return view;
}

function healthClass(health) {
  return health === "healthy" ? "good" : health === "degraded" ? "warn" : "bad";
}

function verdictText(e) {
  if (!e.verdict) return "–";
  let text = e.verdict.state;
  if (e.verdict.factor !== undefined) text += " ×" + Number(e.verdict.factor).toFixed(2);
  if (e.verdict.remaining_ms) text += " (" + Math.ceil(e.verdict.remaining_ms / 1000) + " s)";
  return text + (e.verdict_source ? " · " + e.verdict_source : "");
}

// A rollout on `cluster` (every cluster's when null), or null.
function rolloutText(policy, cluster) {
  const r = policy && policy.rollout;
  if (!r) return null;
  const on = r.clusters.filter((x) => cluster === null || x.cluster === cluster);
  if (!on.length) return cluster === null ? "candidate " + short(r.sha256) + " staged" : null;
  return "candidate " + short(r.sha256) + ": " + on.map((c) => {
    const share = c.mode === "canary" ? pct(c.share) : "sample " + pct(c.share);
    const where = cluster === null ? c.cluster + " " : "";
    return where + c.mode + " " + share + ", " + c.verdict + (c.reason ? " (" + c.reason + ")" : "");
  }).join("; ");
}

function drawClusters(data, at) {
  const policies = new Map(data.policies.map((p) => [p.name, p]));
  const seen = new Set();
  for (const cluster of data.clusters) {
    seen.add(cluster.name);
    const view = clusterView(cluster.name);
    const figures = rates(cluster, at);
    const s = record(cluster, figures, at);
    const colours = s.colours;
    const policy = policies.get(cluster.policy);
    const parts = ["policy " + cluster.policy];
    if (policy) parts.push("serving " + short(policy.active.sha256) + " (" + policy.active.source + ")");
    const rollout = rolloutText(policy, cluster.name);
    if (rollout) parts.push(rollout);
    if (cluster.discovery) parts.push("discovery " + cluster.discovery.source);
    if (cluster.health && cluster.health.panic) parts.push("PANIC: every endpoint unavailable");
    view.meta.textContent = parts.join(" · ");
    fill(view.tbody, cluster.endpoints.map((e) => {
      const f = figures.get(e.address) || {};
      return el("tr", { "data-endpoint": e.address },
        el("td", {}, el("span", { class: "swatch", "data-colour": colours.get(e.address) }), e.address),
        el("td", { class: healthClass(e.health), "data-field": "health" }, e.health),
        el("td", { "data-field": "verdict" }, verdictText(e)),
        el("td", { class: "num" }, Number(e.effective_weight).toFixed(2)),
        el("td", { class: "num", "data-field": "in-flight" }, e.in_flight),
        el("td", { class: "num", "data-field": "rate" }, f.rate === null || f.rate === undefined ? "–" : f.rate.toFixed(1)),
        el("td", { class: "num", "data-field": "share" }, pct(f.share)),
        el("td", { class: "num" }, ms(f.p50)),
        el("td", { class: "num", "data-field": "p99" }, ms(f.p99)),
        el("td", { class: "num" }, pct(f.errors)));
    }));
    // Swatch colours are set as properties: the page's CSP allows no inline style attribute.
    for (const swatch of view.tbody.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.colour;
    chart(view.share, s, "share", colours, 1, () => "share (0–100%)");
    chart(view.latency, s, "p99", colours, 0, (top) => "p99, up to " + ms(top));
  }
  for (const [name, view] of views) {
    if (!seen.has(name)) {
      view.article.remove();
      views.delete(name);
      series.delete(name);
    }
  }
}

function drawPolicies(data) {
  fill($("policies").tBodies[0], data.policies.map((p) => el("tr", { "data-policy": p.name },
    el("td", {}, p.name, " ", el("small", {}, p.world)),
    el("td", { "data-field": "sha256" }, short(p.active.sha256)),
    el("td", {}, p.active.loaded_at ? new Date(p.active.loaded_at).toLocaleString() : "–", " · ", p.active.file || "built-in"),
    el("td", {}, p.clusters.map((c) => c.cluster + (c.quarantined ? " (quarantined)" : "")).join(", ") || "–"),
    el("td", {}, p.rollout ? rolloutText(p, null) : p.last_rollout ? "last: " + p.last_rollout.result + " — " + p.last_rollout.reason : "–"),
    el("td", { class: p.last_error ? "bad" : "" }, p.last_error ? p.last_error.file + ": " + p.last_error.reason : "–"))));
}

function drawHistory(data) {
  const items = data.history.map((h) => el("li", { class: h.failed ? "bad" : "", "data-kind": h.kind, "data-result": h.result },
    el("time", {}, when(h.at_ms)), h.kind, " ", h.subject, ": ", h.result, h.detail ? " — " + h.detail : "",
    h.times > 1 ? " (" + h.times + " times in a row)" : ""));
  if (!items.length) items.push(el("li", {}, "nothing reloaded since start"));
  $("history").replaceChildren(...items);
}

function drawListeners(data) {
  const rows = [];
  for (const l of data.listeners) {
    const routes = l.routes.length ? l.routes : [null];
    routes.forEach((r, i) => {
      const to = !r ? "–" : r.to.status ? "answers " + r.to.status : r.to.clusters.map((c) => c.cluster + (r.to.clusters.length > 1 ? " (" + c.weight + ")" : "")).join(", ");
      rows.push(el("tr", {},
        el("td", {}, i ? "" : l.name + " (" + l.protocol + ")"),
        el("td", {}, i ? "" : l.address),
        el("td", { class: "num" }, i ? "" : l.connections),
        el("td", {}, r ? r.name : "–"), el("td", {}, to),
        el("td", { class: "num" }, r ? r.requests : "–")));
    });
  }
  fill($("listeners").tBodies[0], rows);
}

function drawCertificates(data) {
  const rows = [];
  const add = (owner, entry) => {
    for (const c of entry.certificates) {
      const days = c.expires_in_seconds / 86400;
      rows.push(el("tr", {},
        el("td", {}, owner), el("td", {}, c.file), el("td", {}, c.names.join(", ")),
        el("td", { class: days < 0 ? "bad" : days < 14 ? "warn" : "" }, c.not_after + " (" + days.toFixed(0) + " days)"),
        el("td", { class: entry.last_error ? "bad" : "" }, entry.last_error || "–")));
    }
  };
  for (const l of data.tls.listeners) add("listener " + l.listener, l);
  for (const c of data.tls.clusters) add("cluster " + c.cluster + " (client)", c);
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5 }, "no TLS configured")));
  fill($("certificates").tBodies[0], rows);
}

function drawConfig(data) {
  const c = data.config;
  const parts = [c.file ? "file " + c.file : "no file (built-in configuration)", "sha256 " + short(c.sha256), c.reloads + " reloads"];
  if (c.needs_restart.length) parts.push("needs a restart: " + c.needs_restart.join("; "));
  if (c.last_failure) parts.push("last refused: " + c.last_failure.reason);
  $("config").textContent = parts.join(" · ");
}

async function poll() {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  try {
    const response = await fetch("/console.json", { headers, cache: "no-store" });
    if (response.status === 401) return ask("That token was refused.");
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    edges = data.latency_edges_s;
    const at = remember(data);
    $("version").textContent = data.version;
    $("main").hidden = false;
    drawClusters(data, at);
    drawPolicies(data);
    drawHistory(data);
    drawListeners(data);
    drawCertificates(data);
    drawConfig(data);
    status("live · " + new Date(at).toLocaleTimeString(), false);
  } catch (e) {
    // A token fetch cannot send (not Latin-1) is refused as such.
    if (e instanceof TypeError && token && /header|ISO-8859-1/i.test(e.message)) return ask("That token cannot be sent.");
    status("cannot reach the proxy: " + e.message, true);
  }
  setTimeout(poll, POLL_MS);
}

function ask(error) {
  sessionStorage.removeItem("switchyard-admin-token");
  token = null;
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error || "";
  status("token needed", true);
  $("token").focus();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("switchyard-admin-token", token);
  $("login").hidden = true;
  poll();
});

// Whether the API needs a token is public (a 401 says as much); asking first keeps a
// first visit from failing a request.
fetch("/console/access", { cache: "no-store" })
  .then((r) => r.json())
  .then((access) => (access.token_required && !token ? ask() : poll()))
  .catch((e) => status("cannot reach the proxy: " + e.message, true));
