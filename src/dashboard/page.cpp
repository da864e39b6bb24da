// The dashboard page: the HTML report's stylesheet plus a few rules of its own, and a script
// that follows /events and draws the charts on canvas by hand. Nothing else is fetched.
#include "dashboard/dashboard.hpp"
#include "html/html_report.hpp"

namespace ld::dashboard {

namespace {

const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>loaddensity live dashboard</title>
<style>)HTML";

const char* kStyle = R"CSS(
header.top { display: flex; align-items: flex-end; justify-content: space-between; gap: 16px; }
.status { display: inline-flex; align-items: center; gap: 8px; padding: 5px 12px; border-radius: 999px;
  background: #1f2937; color: #e5e7eb; font-size: 13px; font-weight: 600; white-space: nowrap; }
.status .dot { width: 9px; height: 9px; border-radius: 50%; background: #9ca3af; }
.status.running .dot { background: #34d399; box-shadow: 0 0 0 0 rgba(52,211,153,.7); animation: pulse 1.6s infinite; }
.status.finished .dot { background: #60a5fa; }
.status.down .dot { background: #f87171; }
@keyframes pulse { 70% { box-shadow: 0 0 0 8px rgba(52,211,153,0); } 100% { box-shadow: 0 0 0 0 rgba(52,211,153,0); } }
.progress { height: 4px; background: #1f2937; border-radius: 2px; margin-top: 10px; width: 320px; max-width: 100%; overflow: hidden; }
.progress div { height: 100%; width: 0; background: #34d399; transition: width .4s; }
.final { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--ok);
  border-radius: 8px; padding: 14px 18px; margin-top: 8px; }
.final.bad { border-left-color: var(--bad); }
.final h2 { margin: 0 0 4px; }
.final p { margin: 0; color: #374151; }
.chart-card h3 { margin: 6px 8px 0; font-size: 13px; font-weight: 600; color: #374151; }
.chart-card canvas { width: 100%; height: 230px; display: block; }
.legend { display: flex; gap: 14px; margin: 2px 8px 0; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; margin-right: 5px; vertical-align: middle; }
.hidden { display: none; }
#totals .tiles { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); }
#totals .tile .sub { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.charts { grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); }
)CSS";

const char* kBody = R"HTML(</style>
</head>
<body>
<header class="top">
  <div>
    <div class="brand">loaddensity</div>
    <h1>Live dashboard</h1>
    <div class="meta"><span id="elapsed">no test running yet</span><span id="run"></span></div>
    <div class="progress"><div id="progress"></div></div>
  </div>
  <div id="status" class="status"><span class="dot"></span><span id="status-text">Connecting</span></div>
</header>
<main>
<section id="final" class="final hidden"><h2>Final summary</h2><p id="final-text"></p></section>
<section id="totals"><h2>Now</h2><div class="tiles">
  <div class="tile"><div class="label" id="rps-label">Requests/s</div><div class="value" id="rps">&ndash;</div><div class="sub" id="rps-sub">&nbsp;</div></div>
  <div class="tile"><div class="label">Requests</div><div class="value" id="requests">&ndash;</div><div class="sub" id="requests-sub">&nbsp;</div></div>
  <div class="tile" id="failures-tile"><div class="label">Failures</div><div class="value" id="failures">&ndash;</div><div class="sub" id="failures-sub">&nbsp;</div></div>
  <div class="tile"><div class="label">p50 latency</div><div class="value" id="p50">&ndash;</div><div class="sub" id="p50-sub">&nbsp;</div></div>
  <div class="tile"><div class="label">p95 latency</div><div class="value" id="p95">&ndash;</div><div class="sub">whole run</div></div>
  <div class="tile"><div class="label">p99 latency</div><div class="value" id="p99">&ndash;</div><div class="sub" id="p99-sub">&nbsp;</div></div>
  <div class="tile"><div class="label">Users</div><div class="value" id="users">&ndash;</div><div class="sub" id="users-sub">&nbsp;</div></div>
</div></section>
<section id="charts"><h2>Over time</h2><div class="charts">
  <div class="chart-card"><h3>Requests per second</h3><div class="legend"><span><i style="background:#2563eb"></i>requests/s</span><span><i style="background:#dc2626"></i>failures/s</span></div><canvas id="chart-rps"></canvas></div>
  <div class="chart-card"><h3>Latency per interval (ms)</h3><div class="legend"><span><i style="background:#059669"></i>p50</span><span><i style="background:#d97706"></i>p95</span><span><i style="background:#dc2626"></i>p99</span></div><canvas id="chart-latency"></canvas></div>
  <div class="chart-card"><h3>Active users</h3><div class="legend"><span><i style="background:#7c3aed"></i>users</span></div><canvas id="chart-users"></canvas></div>
</div></section>
<section id="per-name"><h2>Per name</h2>
<table><thead><tr><th>Type</th><th>Name</th><th class="num">Requests</th><th class="num">Failures</th><th class="num">Fail %</th><th class="num">Req/s</th><th class="num">Mean ms</th><th class="num">p50 ms</th><th class="num">p95 ms</th><th class="num">p99 ms</th><th class="num">Max ms</th></tr></thead>
<tbody id="names"><tr><td colspan="11" class="note">waiting for the first interval</td></tr></tbody></table>
<div class="note" id="names-note"></div></section>
<section id="errors"><h2>Errors</h2>
<div id="errors-empty" class="empty">No failures so far.</div>
<table id="errors-table" class="hidden"><thead><tr><th>Type</th><th>Name</th><th>Kind</th><th class="num">Count</th></tr></thead><tbody id="error-rows"></tbody></table>
<div class="note" id="errors-note"></div></section>
<footer>Live from the running test: one update per interval over Server-Sent Events (<code>/events</code>); the latest as JSON at <code>/snapshot</code>. Latencies are from the live histograms (within 3%); the reports give exact figures.</footer>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let run = 0, points = [], last = null;
const count = (n) => Math.round(n).toLocaleString("en-US");
const ms = (v) => v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
const rate = (r) => r >= 1000 ? count(r) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
const pct = (a, b) => (b ? (100 * a / b) : 0).toFixed(2) + "%";
const secs = (s) => s < 120 ? s.toFixed(0) + " s" : s < 7200 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(2) + " h";
function text(id, v) { $(id).textContent = v; }
function setStatus(cls, label) { $("status").className = "status " + cls; text("status-text", label); }

function addPoints(list) {
  for (const p of list) {
    if (!points.length || p.t > points[points.length - 1].t) points.push(p);
  }
}

function niceStep(max, ticks, steps) {
  const raw = max / ticks, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of steps || [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}
function tickLabel(v) { return v >= 1e6 ? (v / 1e6) + "M" : v >= 1e4 ? (v / 1e3) + "k" : String(+v.toPrecision(4)); }

function drawChart(canvas, series) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const L = 52, R = 14, T = 12, B = 28, pw = w - L - R, ph = h - T - B;
  g.font = "11px -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
  g.fillStyle = "#6b7280"; g.strokeStyle = "#e5e7eb"; g.lineWidth = 1;
  if (points.length === 0) {
    g.textAlign = "center"; g.fillText("waiting for data", L + pw / 2, T + ph / 2); return;
  }
  const t0 = 0, t1 = Math.max(points[points.length - 1].t, last && last.test_time > 0 ? last.test_time : 10);
  let ymax = 0;
  for (const s of series) for (const p of points) ymax = Math.max(ymax, s.value(p));
  if (ymax <= 0) ymax = 1;
  const ystep = niceStep(ymax * 1.1, 4), ytop = Math.ceil(ymax * 1.1 / ystep) * ystep;
  const x = (t) => L + (t - t0) / (t1 - t0) * pw, y = (v) => T + ph - v / ytop * ph;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let v = 0; v <= ytop + 1e-9; v += ystep) {
    g.beginPath(); g.moveTo(L, Math.round(y(v)) + .5); g.lineTo(L + pw, Math.round(y(v)) + .5); g.stroke();
    g.fillText(tickLabel(v), L - 6, y(v));
  }
  const xstep = t1 - t0 > 180 ? niceStep((t1 - t0) / 60, 6, [1, 2, 5, 10]) * 60 : niceStep(t1 - t0, 6, [1, 2, 5, 10]);
  g.textAlign = "center"; g.textBaseline = "top";
  const tlabel = (t) => t1 - t0 > 180 ? +(t / 60).toFixed(2) + " min" : t + " s";
  for (let t = 0; t <= t1 + 1e-9; t += xstep) g.fillText(tlabel(t), x(t), T + ph + 8);
  g.strokeStyle = "#9ca3af"; g.beginPath(); g.moveTo(L, T + ph + .5); g.lineTo(L + pw, T + ph + .5); g.stroke();
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = 2; g.lineJoin = "round"; g.beginPath();
    points.forEach((p, i) => { const px = x(p.t), py = y(s.value(p)); i ? g.lineTo(px, py) : g.moveTo(px, py); });
    g.stroke();
    if (s.fill) {
      g.lineTo(x(points[points.length - 1].t), y(0)); g.lineTo(x(points[0].t), y(0)); g.closePath();
      g.fillStyle = s.fill; g.fill();
    }
  }
}

function draw() {
  drawChart($("chart-rps"), [
    {color: "#2563eb", fill: "rgba(37,99,235,.08)", value: (p) => p.rps},
    {color: "#dc2626", value: (p) => p.fps}]);
  drawChart($("chart-latency"), [
    {color: "#059669", value: (p) => p.p50_ms}, {color: "#d97706", value: (p) => p.p95_ms},
    {color: "#dc2626", value: (p) => p.p99_ms}]);
  drawChart($("chart-users"), [{color: "#7c3aed", fill: "rgba(124,58,237,.08)", value: (p) => p.users}]);
}

function cell(tr, v, cls) { const td = document.createElement("td"); td.textContent = v; if (cls) td.className = cls; tr.appendChild(td); }

function render(u) {
  const t = u.totals;
  text("elapsed", secs(u.t) + (u.test_time > 0 ? " of " + secs(u.test_time) : " (until stopped)"));
  text("run", run > 1 ? " \u00b7 test " + run : "");
  $("progress").style.width = (u.test_time > 0 ? Math.min(100, 100 * u.t / u.test_time) : 0) + "%";
  text("rps-label", u.final ? "Avg requests/s" : "Requests/s");
  text("rps", rate(u.final ? t.avg_rps : t.rps));
  text("rps-sub", u.final ? "over " + secs(u.t) : "average " + rate(t.avg_rps));
  text("requests", count(t.requests));
  text("requests-sub", "+" + count(u.interval.requests) + " last interval");
  text("failures", count(t.failures));
  text("failures-sub", pct(t.failures, t.requests) + " of requests");
  $("failures-tile").className = "tile " + (t.failures ? "bad" : "good");
  text("p50", ms(t.p50_ms) + " ms"); text("p50-sub", "mean " + ms(t.mean_ms) + " ms");
  text("p95", ms(t.p95_ms) + " ms");
  text("p99", ms(t.p99_ms) + " ms"); text("p99-sub", "max " + ms(t.max_ms) + " ms");
  text("users", count(u.users)); text("users-sub", "target " + count(u.target_users));

  const names = $("names"); names.textContent = "";
  for (const n of u.names) {
    const tr = document.createElement("tr"); if (n.failures) tr.className = "fail";
    cell(tr, n.type); cell(tr, n.name, "name"); cell(tr, count(n.requests), "num");
    cell(tr, count(n.failures), "num"); cell(tr, pct(n.failures, n.requests), "num rate");
    cell(tr, rate(u.final && u.t > 0 ? n.requests / u.t : n.rps), "num"); cell(tr, ms(n.mean_ms), "num"); cell(tr, ms(n.p50_ms), "num");
    cell(tr, ms(n.p95_ms), "num"); cell(tr, ms(n.p99_ms), "num"); cell(tr, ms(n.max_ms), "num");
    names.appendChild(tr);
  }
  if (!u.names.length) names.innerHTML = '<tr><td colspan="11" class="note">no requests yet</td></tr>';
  text("names-note", u.names_omitted ? u.names_omitted + " quieter names not shown" : "");
  const rows = $("error-rows"); rows.textContent = "";
  for (const e of u.errors) {
    const tr = document.createElement("tr");
    cell(tr, e.type); cell(tr, e.name, "name"); cell(tr, e.kind, "kind"); cell(tr, count(e.count), "num");
    rows.appendChild(tr);
  }
  $("errors-table").className = u.errors.length ? "" : "hidden";
  $("errors-empty").className = u.errors.length ? "empty hidden" : "empty";
  text("errors-note", u.errors_omitted ? u.errors_omitted + " more (name, kind) pairs not shown" : "");

  $("final").className = u.final ? "final" + (t.failures ? " bad" : "") : "final hidden";
  if (u.final) {
    text("final-text", "Finished after " + secs(u.t) + ": " + count(t.requests) + " requests (" +
         rate(t.avg_rps) + "/s), " + count(t.failures) + " failed (" + pct(t.failures, t.requests) +
         "); latency p50 " + ms(t.p50_ms) + " ms, p95 " + ms(t.p95_ms) + " ms, p99 " + ms(t.p99_ms) + " ms.");
    setStatus("finished", "Finished");
  } else {
    setStatus("running", "Running");
  }
}

function connect() {
  const es = new EventSource("events");
  es.onopen = () => { if (!last) setStatus("", "Waiting for a test"); };
  es.addEventListener("history", (e) => {
    const h = JSON.parse(e.data);
    if (h.run !== run) { run = h.run; points = []; }
    addPoints(h.points); draw();
  });
  es.onmessage = (e) => {
    const u = JSON.parse(e.data);
    if (u.run !== run) { run = u.run; points = []; }
    addPoints(u.points); last = u; render(u); draw();
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED || !last || !last.final) {
      setStatus("down", last && last.final ? "Finished \u00b7 dashboard stopped" : "Disconnected, retrying");
    } else {
      setStatus("finished", "Finished \u00b7 dashboard stopped");
    }
  };
}
window.addEventListener("resize", draw);
draw();
connect();
</script>
</body>
</html>
)HTML";

}  // namespace

const std::string& page_html() {
  static const std::string page =
      std::string(kHead) + reports::html_report_style() + kStyle + kBody;
  return page;
}

}  // namespace ld::dashboard
