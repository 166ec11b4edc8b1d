/// The dashboard: one self-contained page (HTML, CSS and vanilla JavaScript; Leaflet from /vendor/leaflet/ when installed).
/// Hash routes: `#/` jobs and workers, `#/job/ID` a job's page (status, controls, settings, stages, tile grid, farm log,
/// deep-zoom canvas), `#/job/ID/tile/STAGE/TILE` with that tile's loss curve open, `#/workers`. It reads `/api/events`
/// (a snapshot, then `changes`, applied to maps keyed by id: only what changed is redrawn; polls `/api/status` every 2 s
/// if the stream fails, every 1 s with `?poll=1`). A token in the fragment (`#token=…`, or `#/route?token=…`) is exchanged
/// for a session cookie (`POST /api/session`) and taken out of the address; tokens never go in a URL a server sees.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StyleFarm control room</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
:root { --line: #e3e5e8; --muted: #6b7280; --blue: #2563eb; --green: #2f9e44; --amber: #e8a317; --red: #d64545; --grey: #c9ccd1; }
* { box-sizing: border-box; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f7f9; color: #1f2328; }
header { position: sticky; top: 0; z-index: 2000; display: flex; gap: 1.2em; align-items: baseline; flex-wrap: wrap;
  background: #fff; border-bottom: 1px solid var(--line); padding: .55em 1.2em; }
header h1 { font-size: 1.15em; margin: 0; } header nav a { margin-right: .8em; font-weight: 600; }
header nav a.active { color: #1f2328; text-decoration: none; border-bottom: 2px solid var(--blue); }
#who { margin-left: auto; } #who code { font-size: .95em; background: #f0f2f5; padding: 0 .3em; border-radius: 3px; }
main { padding: .8em 1.2em 3em; }
a { color: var(--blue); text-decoration: none; } a:hover { text-decoration: underline; }
h2 { font-size: 1.05em; margin: 1.1em 0 .5em; } h3 { font-size: .95em; margin: .9em 0 .4em; }
section[hidden] { display: none; }
.muted { color: var(--muted); } .small { font-size: .9em; } .mono { font-family: ui-monospace, Menlo, monospace; font-size: .95em; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .7em .9em; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { padding: 3px 6px; text-align: left; border-bottom: 1px solid #eef0f2; white-space: nowrap; vertical-align: middle; }
thead th { position: sticky; top: 2.6em; background: #f0f2f5; font-weight: 600; font-size: .92em; z-index: 1; }
tbody tr:hover { background: #f5f8ff; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } td.msg { white-space: normal; }
.badge { display: inline-block; padding: 0 .5em; border-radius: 9px; font-size: .85em; font-weight: 600; background: #e9ecef; color: #444; }
.badge.running, .badge.rendering { background: #dbe7ff; color: #1d4ed8; } .badge.done { background: #d9f2de; color: #1f7a33; }
.badge.failed { background: #fbdcdc; color: #a61b1b; } .badge.queued, .badge.idle { background: #eceff3; color: #4b5563; }
.badge.cancelled { background: #e5e5e5; color: #666; } .badge.paused, .badge.draining { background: #fff0c9; color: #8a5a00; }
.badge.silent { background: #fde2e2; color: #b42318; }
.bar { display: inline-block; width: 110px; height: 8px; background: #e5e7eb; border-radius: 4px; overflow: hidden; vertical-align: middle; }
.bar > i { display: block; height: 100%; background: var(--blue); }
.bar.big { width: 100%; max-width: 520px; height: 12px; border-radius: 6px; }
.filters { display: flex; gap: 1em; align-items: center; margin-bottom: .5em; } select, input { font: inherit; }
button { font: inherit; font-size: .92em; padding: 2px 9px; border: 1px solid #c4c8ce; border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: #eef2f7; } button:disabled { opacity: .5; cursor: default; }
td button { padding: 0 4px; font-size: .8em; }
#message { margin: .5em 0; padding: .45em .8em; border-radius: 5px; display: none; white-space: pre-wrap; }
#message.ok, #message.error, #message.pending { display: block; }
#message.ok { background: #e3f5e6; border: 1px solid #a8dcb2; } #message.error { background: #fde8e8; border: 1px solid #f2b3b3; color: #8c1d1d; }
#message.pending { background: #eef2f7; border: 1px solid var(--line); }
#live { display: flex; gap: .8em; flex-wrap: wrap; margin-bottom: .4em; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .4em .6em; width: 400px; }
.card .info { font-size: .88em; margin: .15em 0 .3em; } .card .row { display: flex; gap: .5em; }
.card svg.grid { width: 185px; height: 120px; } .card img.preview { width: 185px; height: 120px; object-fit: contain; background: #2a2a2a; border-radius: 3px; }
#live .more { align-self: center; }
svg.grid { background: #f0f1f3; border: 1px solid #d5d8dc; display: block; }
rect.tile { stroke: #fff; stroke-width: 1.5; vector-effect: non-scaling-stroke; cursor: pointer; }
rect.pending { fill: var(--grey); } rect.rendering { fill: var(--amber); } rect.done { fill: var(--green); }
rect.tile:hover { fill-opacity: .75; } rect.selected { stroke: #0b2e7a; stroke-width: 4; }
svg.grid text { fill: #fff; pointer-events: none; font-weight: 600; text-anchor: middle; dominant-baseline: central; }
.cols { display: flex; gap: 1.2em; flex-wrap: wrap; align-items: flex-start; } .cols > .left { flex: 1 1 420px; max-width: 560px; } .cols > .right { flex: 2 1 520px; }
#tile-grid svg { width: 100%; max-height: 380px; }
#stages { display: flex; flex-wrap: wrap; gap: .35em; }
#stages button { text-align: left; line-height: 1.3; } #stages button.selected { border-color: var(--blue); box-shadow: inset 0 0 0 1px var(--blue); background: #f1f5ff; }
#stages button.done { border-left: 4px solid var(--green); } #stages button.current { border-left: 4px solid var(--amber); } #stages button.waiting { border-left: 4px solid var(--grey); }
#tile-panel { margin-top: .8em; } #tile-panel dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 1em; margin: .4em 0; }
#tile-panel dt { color: var(--muted); } #tile-panel dd { margin: 0; }
#loss-curve { background: #fff; } #loss-curve .axis { stroke: #9aa1a9; } #loss-curve .gridline { stroke: #eef0f2; }
#loss-curve polyline { fill: none; stroke: var(--blue); stroke-width: 1.6; } #loss-curve text { font-size: 10px; fill: #555; }
#canvas-view { height: 560px; background: #2a2a2a; border-radius: 6px; overflow: hidden; display: flex; align-items: center; justify-content: center; }
#canvas-view.leaflet-container { display: block; }
#canvas-fallback { width: 100%; height: 100%; object-fit: contain; }
.canvas-bar { display: flex; gap: 1em; align-items: center; margin: .3em 0; }
.statusline { display: flex; flex-wrap: wrap; gap: .3em 1.2em; margin: .4em 0; } .statusline b { font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; margin: .6em 0; } #priority-input { width: 4.5em; }
details#settings pre { background: #fafbfc; border: 1px solid var(--line); padding: .6em; max-height: 320px; overflow: auto; margin: .4em 0; }
#events { max-height: 360px; } .events-wrap { max-height: 380px; overflow: auto; border: 1px solid var(--line); }
.events-wrap table { border: 0; } .events-wrap thead th { top: 0; }
.kind { font-weight: 600; } .kind-leased { color: #1d4ed8; } .kind-requeued { color: #b45309; } .kind-copy-won { color: #0f766e; }
.kind-rejected, .kind-failed { color: #b91c1c; } .kind-blocklisted { color: #7c3aed; } .kind-stage { color: #15803d; }
.kind-control { color: #0e4a8a; } .kind-state { color: #374151; }
tr[data-state=silent] td { color: #9b2c2c; } #workers td.cut { max-width: 9em; overflow: hidden; text-overflow: ellipsis; } #workers td.cut.mono { max-width: 10.5em; } tr[data-state=draining] { background: #fffbeb; }
</style></head>
<body>
<header>
  <h1>StyleFarm control room</h1>
  <nav><a href="#/" id="nav-jobs">Jobs</a><a href="#/workers" id="nav-workers">Workers</a></nav>
  <span id="updated" class="muted"></span><span id="conn" class="muted small"></span>
  <span id="who" class="muted"></span>
</header>
<main>
<div id="message" role="status" aria-live="polite"></div>

<section id="overview">
  <div id="live"></div>
  <h2>Jobs <span id="jobs-summary" class="muted small"></span></h2>
  <div class="filters">
    <label>state <select id="filter-state"><option value="">all</option><option>queued</option><option>running</option>
      <option>done</option><option>failed</option><option>cancelled</option></select></label>
    <label>owner <select id="filter-owner"><option value="">all</option></select></label>
  </div>
  <table id="jobs-table"><thead><tr><th>id</th><th>name</th><th>owner</th><th>state</th><th class="num">priority</th><th>progress</th>
    <th class="num">tiles</th><th>submitted</th><th>started</th><th>finished</th><th class="num">wall time</th></tr></thead>
    <tbody><tr><td colspan="11" class="muted">loading…</td></tr></tbody></table>
</section>

<section id="job-page" hidden>
  <p class="small"><a href="#/">← all jobs</a></p>
  <h2 id="job-title"></h2>
  <div id="job-status" class="statusline"></div>
  <div id="job-progress"></div>
  <div class="actions">
    <button data-action="pause">pause</button><button data-action="resume">resume</button>
    <button data-action="cancel">cancel</button><button data-action="retry">retry</button><button data-action="requeue">requeue</button>
    <span class="muted">priority</span><input id="priority-input" type="number" min="0" max="100" step="1">
    <button data-action="priority">set priority</button>
  </div>
  <details id="settings"><summary>Settings</summary><pre id="spec" class="mono"></pre>
    <a id="download-toml" href="#">download job.toml</a></details>
  <div class="cols">
    <div class="left">
      <h3>Stages</h3><div id="stages"></div>
      <h3>Tiles <span id="grid-caption" class="muted small"></span></h3><div id="tile-grid"></div>
      <div id="tile-panel" class="panel" hidden></div>
    </div>
    <div class="right">
      <h3>Canvas</h3>
      <div class="canvas-bar"><span id="canvas-text" class="muted"></span><button id="zoom-1to1" hidden>zoom to 1:1</button></div>
      <div id="canvas-view"></div>
    </div>
  </div>
  <h3>Farm log</h3>
  <div class="events-wrap"><table id="events"><thead><tr><th>time</th><th>kind</th><th>tile</th><th>worker</th><th>message</th></tr></thead>
    <tbody></tbody></table></div>
</section>

<section id="workers-section">
  <h2>Workers <span id="workers-summary" class="muted small"></span></h2>
  <table id="workers"><thead><tr><th>id</th><th>name</th><th>host</th><th>key</th><th>state</th><th>current tile(s)</th>
    <th class="num">threads</th><th>BLAS kernel</th><th class="num" title="memory limit">memory</th><th class="num" title="pixel-iterations per second">speed</th>
    <th class="num">tiles</th><th class="num">last heard</th><th>blocklisted</th><th>actions</th></tr></thead>
    <tbody><tr class="empty"><td colspan="14" class="muted">loading…</td></tr></tbody></table>
</section>
</main>
<script>
"use strict";
// ---------- token, requests, formatting ----------
const params = new URLSearchParams(location.search);
const pollOnly = params.get("poll") === "1";
const $ = s => document.querySelector(s), enc = encodeURIComponent;
const esc = v => String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
/**
 * Signing in: a token in the address's fragment (`#token=…`, or `?token=…` after a route: never sent to a server, so
 * never in a proxy's log) is exchanged for a session cookie, which every request then carries (the event stream and
 * images included), and is taken out of the address at once.
 */
async function signIn() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const q = new URLSearchParams(query || (path.startsWith("token=") ? path : ""));
  const t = q.get("token");
  if (!t) return;
  q.delete("token");
  const rest = path.startsWith("token=") ? "/" : path;
  history.replaceState(null, "", location.pathname + location.search + "#" + rest + (q.toString() ? "?" + q : ""));
  await api("/api/session", {method: "POST", headers: {Authorization: "Bearer " + t}});
}

/** fetch (with the session cookie); resolves to the JSON body, rejects with the server's `message` verbatim. */
async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({cache: "no-store", credentials: "same-origin"}, opts));
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw Object.assign(new Error(body && body.message ? body.message : `HTTP ${r.status} ${r.statusText}`), {status: r.status, code: body && body.code});
  return body;
}
const pad = n => String(n).padStart(2, "0");
const num = v => Number(v) || 0;
function hms(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  return Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
}
/** Local time: HH:MM:SS today, else with the date. */
function when(t) {
  if (!t) return "–";
  const d = new Date(t * 1000), time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}
const loss = x => x == null ? "–" : Number(x).toExponential(3);
const si = x => x == null ? "–" : x >= 1e6 ? (x / 1e6).toFixed(2) + " M" : x >= 1e3 ? (x / 1e3).toFixed(1) + " k" : String(Math.round(x));
const badge = (state, paused) => `<span class="badge ${esc(state)}">${esc(state)}</span>` + (paused ? ' <span class="badge paused">paused</span>' : "");
const bar = (f, big) => { const p = (100 * Math.min(1, num(f))).toFixed(1); return `<span class="bar${big ? " big" : ""}"><i style="width:${p}%"></i></span> ${p}%`; };
const jobLink = id => `<a href="#/job/${esc(enc(id))}">${esc(id)}</a>`;
const jobActive = s => s && (s.state === "running" || s.state === "queued");

// ---------- farm state: maps keyed by id; a JSON copy of each tells what really changed ----------
const S = {jobs: new Map(), workers: new Map(), json: new Map(), time: 0, revision: 0,
           jobsDirty: false, changedJobs: new Set(), dirtyWorkers: new Set(), rebuildWorkers: true, rendered: false};
function putJob(j) {
  const id = j.status.id, old = S.jobs.get(id);
  if (j.tilesChangedOnly) {  // a change carrying only the tiles that changed: merge them by index
    const tiles = old ? old.tiles.slice() : [];
    for (const t of j.tiles) tiles[t.index] = t;
    j = Object.assign({}, j, {tiles}); delete j.tilesChangedOnly;
  }
  const s = JSON.stringify(j);
  if (S.json.get("j" + id) === s) return;
  S.json.set("j" + id, s); S.jobs.set(id, j); S.jobsDirty = true; S.changedJobs.add(id);
}
function putWorker(w) {
  const s = JSON.stringify(w);
  if (S.json.get("w" + w.id) === s) return;
  S.json.set("w" + w.id, s); S.workers.set(w.id, w); S.dirtyWorkers.add(w.id);
}
function dropJob(id) { if (S.jobs.delete(id)) { S.json.delete("j" + id); S.jobsDirty = true; S.changedJobs.add(id); } }
function dropWorker(id) { if (S.workers.delete(id)) { S.json.delete("w" + id); S.dirtyWorkers.add(id); } }
/** A full snapshot replaces everything (only what differs is re-rendered). */
function applySnapshot(s) {
  const jobIds = new Set(s.jobs.map(j => j.status.id)), workerIds = new Set(s.workers.map(w => w.id));
  for (const id of [...S.jobs.keys()]) if (!jobIds.has(id)) dropJob(id);
  for (const id of [...S.workers.keys()]) if (!workerIds.has(id)) dropWorker(id);
  s.jobs.forEach(putJob); s.workers.forEach(putWorker);
  S.time = s.time; S.revision = s.revision ?? S.revision;
  schedule();
}
function applyChanges(c) {
  (c.jobs || []).forEach(putJob); (c.workers || []).forEach(putWorker);
  (c.removedJobs || []).forEach(dropJob); (c.removedWorkers || []).forEach(dropWorker);
  if (c.time) S.time = c.time;
  S.revision = c.revision ?? S.revision;
  schedule();
}

// ---------- rendering, batched ----------
let scheduled = false;
function schedule() { if (!scheduled) { scheduled = true; setTimeout(flush, 0); } }
// What the page costs: each flush's milliseconds and the stream's bytes (read by `stylefarm bench-farm --control-room`).
window.pageStats = { flushes: [], streamBytes: 0, changeEvents: 0 };
function flush() {
  const t0 = performance.now();
  scheduled = false;
  $("#updated").textContent = S.time ? "updated " + when(S.time) : "";
  if (S.jobsDirty || !S.rendered) {
    renderJobs(); renderLive();
    if (J.id && S.changedJobs.has(J.id)) { renderJobHead(); renderGrid(); refreshDetail(); }
    S.jobsDirty = false; S.changedJobs.clear();
  }
  renderWorkers();
  if (!S.rendered) {
    S.rendered = true;
    void document.body.offsetHeight;  // include layout in the measure
    window.renderMs = Math.round(performance.now());
    document.body.dataset.renderMs = window.renderMs;
    document.body.dataset.ready = "1";
  }
  const f = window.pageStats.flushes; f.push(performance.now() - t0); if (f.length > 2000) f.shift();
}

// ---------- jobs table and the running jobs' cards (overview) ----------
function jobRow(j) {
  const s = j.status;
  return `<tr data-job="${esc(s.id)}" class="job ${esc(s.state)}"><td>${jobLink(s.id)}</td><td>${esc(s.name)}</td><td>${esc(s.owner || "–")}</td>
    <td>${badge(s.state, s.paused)}</td><td class="num">${num(s.priority)}</td><td>${bar(s.workFraction)}</td>
    <td class="num">${num(s.tilesDone)}/${num(s.tilesTotal)}</td><td>${when(s.submitted)}</td><td>${when(s.started)}</td>
    <td>${when(s.finished)}</td><td class="num">${hms(s.elapsed)}</td></tr>`;
}
const newestFirst = (a, b) => (b.status.submitted || 0) - (a.status.submitted || 0) || (a.status.id < b.status.id ? 1 : -1);
function renderJobs() {
  const all = [...S.jobs.values()], q = route.query, state = q.get("state") || "", owner = q.get("owner") || "";
  // The owner filter lists the owners present (and the one in the URL, even when gone).
  const owners = [...new Set(all.map(j => j.status.owner).filter(Boolean).concat(owner ? [owner] : []))].sort();
  const sel = $("#filter-owner"), key = owners.join("\n");
  if (sel.dataset.owners !== key) {
    sel.innerHTML = '<option value="">all</option>' + owners.map(o => `<option>${esc(o)}</option>`).join("");
    sel.dataset.owners = key;
  }
  sel.value = owner; $("#filter-state").value = state;
  const shown = all.filter(j => (!state || j.status.state === state) && (!owner || j.status.owner === owner)).sort(newestFirst);
  $("#jobs-table tbody").innerHTML = shown.map(jobRow).join("") ||
    `<tr><td colspan="11" class="muted">${all.length ? "no job matches the filters" : "no jobs yet"}</td></tr>`;
  const count = st => all.filter(j => j.status.state === st).length;
  $("#jobs-summary").textContent = `${all.length} jobs: ${count("running")} running, ${count("queued")} queued, ${count("done")} done, ${count("failed")} failed`;
}
/** The tile grid of a stage: an SVG in the stage's canvas coordinates, one rect per tile. */
function gridSVG(w, h, tiles, stage, selected) {
  const side = tiles.length ? Math.min(...tiles.map(t => Math.min(num(t.width), num(t.height)))) : 64;
  return `<svg class="grid" data-stage="${num(stage)}" viewBox="0 0 ${num(w) || 1} ${num(h) || 1}" preserveAspectRatio="xMidYMid meet">` +
    tiles.map(t => `<rect class="tile ${esc(t.state)}${t.index === selected ? " selected" : ""}" data-index="${num(t.index)}" data-state="${esc(t.state)}" ` +
      `x="${num(t.x)}" y="${num(t.y)}" width="${num(t.width)}" height="${num(t.height)}"><title>tile ${num(t.index)}: ${esc(t.state)}` +
      (t.worker ? ` on ${esc(t.worker)}` : "") + (t.iteration != null ? `, iteration ${num(t.iteration)}/${num(t.iterations)}` : "") +
      (t.loss != null ? `, loss ${loss(t.loss)}` : "") + (t.attempts ? `, ${num(t.attempts)} lease(s)` : "") + `</title></rect>`).join("") +
    tiles.map(t => `<text x="${num(t.x) + num(t.width) / 2}" y="${num(t.y) + num(t.height) / 2}" font-size="${(side / 4).toFixed(0)}">${num(t.index)}</text>`).join("") +
    `</svg>`;
}
const stageLine = j => `${Math.min(num(j.status.stage) + 1, num(j.status.stages))}/${num(j.status.stages)} (level ${num(j.level)}, ${esc(j.pass)}, ${num(j.width)}×${num(j.height)})`;
/** A card per running job (tile grid and live preview), updated in place so the preview does not flicker. */
function renderLive() {
  const box = $("#live"), all = [...S.jobs.values()].filter(j => j.status.state === "running"), running = all.sort(newestFirst).slice(0, 3);
  const ids = new Set(running.map(j => j.status.id));
  for (const el of [...box.children]) if (!ids.has(el.dataset.card)) el.remove();  // (and the "more" link)
  for (const j of running) {
    const s = j.status;
    let card = [...box.children].find(el => el.dataset.card === s.id);
    if (!card) {
      card = document.createElement("div"); card.className = "card"; card.dataset.card = s.id;
      card.innerHTML = `<div><b>${jobLink(s.id)}</b> ${esc(s.name)}</div><div class="info muted"></div>
        <div class="row"><div class="g"></div><img class="preview" alt="preview of ${esc(s.id)}"></div>`;
      const img = card.querySelector("img");
      img.onload = () => { img.dataset.loaded = "1"; }; img.onerror = () => { img.dataset.loaded = "0"; };
      box.appendChild(card);
    }
    card.querySelector(".info").innerHTML = `${badge(s.state, s.paused)} ${bar(s.workFraction)} · stage ${stageLine(j)} · ETA ${hms(j.eta)}`;
    card.querySelector(".g").innerHTML = gridSVG(j.width, j.height, j.tiles || [], s.stage);
    if (card.dataset.done !== String(s.tilesDone)) {  // a tile landed: reload the preview
      card.dataset.done = s.tilesDone;
      card.querySelector("img").src = `/api/jobs/${enc(s.id)}/preview.png?t=${num(s.tilesDone)}-${Date.now()}`;
    }
  }
  if (all.length > running.length) box.insertAdjacentHTML("beforeend", `<a class="more" href="#/?state=running">+${all.length - running.length} more running</a>`);
  box.hidden = !running.length;
}

// ---------- workers table: built once, then rows updated in place ----------
function workerState(w) {
  if (num(w.silentFor) >= 3) return "silent";
  return w.draining ? "draining" : (w.leases || []).length || (w.tilesNow || []).length ? "rendering" : "idle";
}
function tileLink(t) {  // "JOB/sSTAGE/tTILE" -> the job page with that tile open
  const m = /^(.*)\/s(\d+)\/t(\d+)$/.exec(t);
  return m ? `<a href="#/job/${esc(enc(m[1]))}/tile/${m[2]}/${m[3]}">${esc(t)}</a>` : esc(t);
}
function workerCells(w) {
  const st = workerState(w), kernel = (w.kernel || "").replace(/^BLAS kernel /, "").replace(/ \(.*$/, "");
  const id = esc(w.id);
  return `<td class="mono cut" title="${id}">${id}</td><td class="cut">${esc(w.name)}</td><td class="cut" title="${esc(w.host || "")}">${esc(w.host || "–")}</td>
    <td class="cut">${esc(w.keyName || "–")}</td>
    <td>${badge(st)}${w.draining && st !== "draining" ? ' <span class="badge draining">draining</span>' : ""}</td>
    <td>${(w.tilesNow || []).map(tileLink).join(", ") || "–"}</td><td class="num">${num(w.threads)}</td>
    <td title="${esc(w.kernel || "")}">${esc(kernel || "–")}</td>
    <td class="num">${w.memoryLimit != null ? Math.round(w.memoryLimit / 1048576) + " MiB" : "–"}</td>
    <td class="num">${si(w.speed)}</td><td class="num">${num(w.tiles)}</td>
    <td class="num">${w.silentFor != null ? Math.floor(w.silentFor) + " s ago" : "–"}</td>
    <td>${(w.blocklisted || []).map(jobLink).join(", ") || "–"}</td>
    <td><button data-action="drain" data-worker="${id}">drain</button> <button data-action="resume" data-worker="${id}">resume</button>
      <button data-action="clear-blocklist" data-worker="${id}">clear blocklist</button></td>`;
}
const workerRow = w => `<tr class="worker" data-worker="${esc(w.id)}" data-state="${workerState(w)}">${workerCells(w)}</tr>`;
const rows = new Map();  // worker id -> its <tr>
function renderWorkers() {
  const tbody = $("#workers tbody");
  if (S.rebuildWorkers) {  // the first time: one innerHTML for all rows
    tbody.innerHTML = [...S.workers.values()].map(workerRow).join("") || '<tr class="empty"><td colspan="14" class="muted">no workers connected</td></tr>';
    rows.clear();
    for (const tr of tbody.rows) if (tr.dataset.worker != null) rows.set(tr.dataset.worker, tr);
    S.rebuildWorkers = false;
  } else if (S.dirtyWorkers.size) {
    for (const id of S.dirtyWorkers) {
      const w = S.workers.get(id);
      let tr = rows.get(id);
      if (!w) { if (tr) tr.remove(); rows.delete(id); continue; }
      if (!tr) {
        tr = document.createElement("tr"); tr.className = "worker"; tr.dataset.worker = id;
        tbody.appendChild(tr); rows.set(id, tr);
        const empty = tbody.querySelector("tr.empty"); if (empty) empty.remove();
      }
      tr.dataset.state = workerState(w);
      tr.innerHTML = workerCells(w);
    }
    if (!rows.size && !tbody.querySelector("tr.empty")) tbody.innerHTML = '<tr class="empty"><td colspan="14" class="muted">no workers connected</td></tr>';
  } else return;
  S.dirtyWorkers.clear();
  const n = {rendering: 0, idle: 0, draining: 0, silent: 0};
  for (const w of S.workers.values()) n[workerState(w)]++;
  $("#workers-summary").textContent = `${S.workers.size} workers: ${n.rendering} rendering, ${n.idle} idle, ${n.draining} draining, ${n.silent} silent`;
}

// ---------- routes: #/  #/workers  #/job/ID  #/job/ID/tile/STAGE/TILE ----------
let route = {page: "jobs", query: new URLSearchParams()};
function parseRoute() {
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const p = path.split("/").filter(Boolean).map(x => { try { return decodeURIComponent(x); } catch (e) { return x; } });
  const r = {page: "jobs", query: new URLSearchParams(query || "")};
  if (p[0] === "workers") r.page = "workers";
  else if (p[0] === "job" && p[1]) {
    r.page = "job"; r.job = p[1];
    if (p[2] === "tile" && /^\d+$/.test(p[3]) && /^\d+$/.test(p[4])) r.tile = {stage: +p[3], index: +p[4]};
  }
  return r;
}
function onRoute() {
  const before = route;
  route = parseRoute();
  document.body.dataset.page = route.page;
  $("#overview").hidden = route.page !== "jobs";
  $("#job-page").hidden = route.page !== "job";
  $("#nav-jobs").classList.toggle("active", route.page !== "workers");
  $("#nav-workers").classList.toggle("active", route.page === "workers");
  if (route.page !== before.page || route.job !== before.job) showMessage("", "");
  if (route.page === "job") { if (J.id !== route.job) enterJob(route.job, route.tile); setTile(route.tile); }
  else if (J.id) leaveJob();
  if (route.page === "jobs" && S.rendered) renderJobs();
  if (route.page === "workers") $("#workers-section").scrollIntoView();
}
function setFilters() {
  const q = new URLSearchParams();
  if ($("#filter-state").value) q.set("state", $("#filter-state").value);
  if ($("#filter-owner").value) q.set("owner", $("#filter-owner").value);
  history.replaceState(null, "", location.pathname + location.search + "#/" + (String(q) ? "?" + q : ""));
  route = parseRoute(); renderJobs();
}

// ---------- a job's page ----------
const J = {id: null, detail: null, stage: null, tile: null, seq: 0, last: 0, detailTimer: null, tileTimer: null};
function enterJob(id, tile) {
  leaveJob();
  Object.assign(J, {id, detail: null, stage: tile ? tile.stage : null, tile: null, missing: false});
  $("#job-page").removeAttribute("data-loaded-job");
  $("#job-title").textContent = id; $("#job-status").innerHTML = '<span class="muted">loading…</span>';
  for (const sel of ["#stages", "#tile-grid", "#job-progress", "#canvas-text", "#spec", "#events tbody"]) $(sel).innerHTML = "";
  $("#settings").open = false;
  const a = $("#download-toml"); a.href = `/api/jobs/${enc(id)}/job.toml`; a.download = id + ".toml";
  $("#priority-input").value = ""; delete $("#priority-input").dataset.job;
  renderJobHead(); loadDetail(); startCanvas(id);
}
function leaveJob() {
  clearTimeout(J.detailTimer); clearTimeout(J.tileTimer); J.detailTimer = J.tileTimer = null;
  J.id = null; J.seq++; stopCanvas();
}
/** The job's status, from the live snapshot when it has it (fresher), else from its page. */
function renderJobHead() {
  const jv = S.jobs.get(J.id), s = jv ? jv.status : J.detail && J.detail.status;
  if (!s) return;
  $("#job-title").innerHTML = `${esc(s.name)} <span class="muted mono">${esc(s.id)}</span>`;
  const item = (k, v) => `<span><span class="muted">${k}</span> <b>${v}</b></span>`;
  $("#job-status").innerHTML = [badge(s.state, s.paused) + (s.detail ? ` <span>${esc(s.detail)}</span>` : ""),
    item("owner", esc(s.owner || "–")), item("priority", num(s.priority)),
    jv ? item("stage", stageLine(jv)) : item("stage", `${Math.min(num(s.stage) + 1, num(s.stages))}/${num(s.stages)}`),
    item("submitted", when(s.submitted)), item("started", when(s.started)), item("finished", when(s.finished)),
    item("wall time", hms(s.elapsed)), item("ETA", hms(jv && jv.eta)),
    item("tiles/min", jv ? num(jv.tilesPerMinute).toFixed(1) : "–")].join("");
  $("#job-progress").innerHTML = `${bar(s.workFraction, true)} · tiles ${num(s.tilesDone)}/${num(s.tilesTotal)}`;
  const input = $("#priority-input");
  if (input.dataset.job !== s.id && document.activeElement !== input) { input.value = num(s.priority); input.dataset.job = s.id; }
}
async function loadDetail() {
  clearTimeout(J.detailTimer); J.detailTimer = null;
  const id = J.id, seq = ++J.seq;
  J.last = Date.now();
  try {
    const d = await api(`/api/jobs/${enc(id)}` + (J.stage != null ? `?stage=${J.stage}` : ""));
    if (seq !== J.seq) return;
    J.detail = d; J.missing = false;
    renderJobPage();
  } catch (e) {
    if (seq !== J.seq) return;
    J.missing = e.status === 404;
    $("#job-status").innerHTML = `<span class="badge failed">${e.status === 404 ? "not found" : "error"}</span> ${esc(e.message)}`;
  }
}
/** Reloads the job's page soon (at most every 1.5 s) after the job changed. */
function refreshDetail() {
  if (J.id && !J.detailTimer) J.detailTimer = setTimeout(loadDetail, Math.max(0, J.last + 1500 - Date.now()));
}
function renderJobPage() {
  const d = J.detail;
  renderJobHead();
  const spec = JSON.stringify(d.spec, null, 2);
  if ($("#spec").textContent !== spec) $("#spec").textContent = spec;
  $("#stages").innerHTML = (d.stages || []).map(st => `<button data-stage="${num(st.index)}" class="stage ${esc(st.state)}${st.index === d.stage ? " selected" : ""}">` +
    `<b>stage ${num(st.index)}</b> · ${esc(st.state)}<br><span class="small muted">level ${num(st.level)} · ${esc(st.pass)} · ${num(st.width)}×${num(st.height)} · ` +
    `${num(st.tiles)} tiles · ${num(st.iterations)} it</span></button>`).join("") || '<span class="muted">no stages</span>';
  renderGrid();
  const evs = (d.events || []).map((e, i) => [e, i]).sort((a, b) => b[0].time - a[0].time || b[1] - a[1]).map(x => x[0]);
  $("#events tbody").innerHTML = evs.map(e => `<tr><td>${when(e.time)}</td><td class="kind kind-${esc(e.kind)}">${esc(e.kind)}</td>
    <td>${e.stage != null && e.tile != null ? `<a href="#/job/${esc(enc(J.id))}/tile/${num(e.stage)}/${num(e.tile)}">s${num(e.stage)}/t${num(e.tile)}</a>`
      : e.stage != null ? "s" + num(e.stage) : "–"}</td><td class="mono">${esc(e.worker || "–")}</td><td class="msg">${esc(e.message)}</td></tr>`).join("") ||
    '<tr><td colspan="5" class="muted">nothing logged yet</td></tr>';
  $("#job-page").dataset.loadedJob = J.id;
}
/** The shown stage's tiles: live from the snapshot for the current stage, else from the job's page. */
function renderGrid() {
  const d = J.detail;
  if (!d) return;
  const jv = S.jobs.get(J.id), stage = d.stage, sum = (d.stages || []).find(s => s.index === stage);
  const live = jv && jv.status.stage === stage && (jv.tiles || []).length;
  const tiles = live ? jv.tiles : d.tiles || [];
  const w = live ? jv.width : sum ? sum.width : Math.max(1, ...tiles.map(t => t.x + t.width));
  const h = live ? jv.height : sum ? sum.height : Math.max(1, ...tiles.map(t => t.y + t.height));
  const sel = J.tile && J.tile.stage === stage ? J.tile.index : null;
  $("#tile-grid").innerHTML = tiles.length ? gridSVG(w, h, tiles, stage, sel) : '<p class="muted">no tiles</p>';
  const n = st => tiles.filter(t => t.state === st).length;
  $("#grid-caption").textContent = `stage ${stage}: ${n("done")} done, ${n("rendering")} rendering, ${n("pending")} pending — click a tile`;
}
function setTile(t) {
  const same = t && J.tile && t.stage === J.tile.stage && t.index === J.tile.index;
  if (same) return;
  J.tile = t || null; clearTimeout(J.tileTimer);
  const panel = $("#tile-panel");
  if (!t) { panel.hidden = true; panel.innerHTML = ""; delete panel.dataset.tile; delete panel.dataset.stage; renderGrid(); return; }
  panel.hidden = false; panel.innerHTML = '<span class="muted">loading tile…</span>';
  if (J.stage !== t.stage && (!J.detail || J.detail.stage !== t.stage)) { J.stage = t.stage; loadDetail(); } else renderGrid();
  loadTile();
}
async function loadTile() {
  clearTimeout(J.tileTimer);
  const t = J.tile, id = J.id;
  if (!t) return;
  try {
    const d = await api(`/api/jobs/${enc(id)}/tiles/${t.stage}/${t.index}`);
    if (J.tile !== t || J.id !== id) return;
    renderTile(d);
    if (d.tile.state === "rendering") J.tileTimer = setTimeout(loadTile, 2000);  // follow its loss while it renders
  } catch (e) {
    if (J.tile === t) $("#tile-panel").innerHTML = `<b>tile ${t.index} of stage ${t.stage}</b> <a href="#/job/${esc(enc(id))}">close</a><p class="muted">${esc(e.message)}</p>`;
  }
}
function renderTile(d) {
  const t = d.tile, panel = $("#tile-panel"), close = `#/job/${esc(enc(J.id))}`;
  const row = (k, v) => `<dt>${k}</dt><dd>${v}</dd>`;
  panel.innerHTML = `<div style="display:flex;justify-content:space-between"><b>tile ${num(t.index)} of stage ${num(d.stage)}</b>
      <span><button id="tile-locate">show in canvas</button> <a href="${close}">close ×</a></span></div><dl>` +
    row("state", badge(t.state)) + row("attempts", t.attempts != null ? num(t.attempts) : "–") + row("worker", esc(t.worker || "–")) +
    row("iteration", t.iteration != null ? `${num(t.iteration)}/${num(t.iterations)}` : "–") + row("seconds", t.seconds != null ? num(t.seconds).toFixed(1) : "–") +
    row(t.state === "done" ? "final loss" : "loss", loss(t.loss)) + row("rectangle", `${num(t.width)}×${num(t.height)} at (${num(t.x)}, ${num(t.y)})`) +
    `</dl>` + lossCurve(d.curve || []);
  panel.dataset.tile = t.index; panel.dataset.stage = d.stage;
}
/** The loss curve: iteration across, loss down a log10 axis, decades marked. */
function lossCurve(points) {
  const pts = points.filter(p => p.loss > 0 && isFinite(p.loss)), W = 400, H = 200, L = 52, R = 12, T = 10, B = 36;
  let body = "";
  if (pts.length) {
    const its = pts.map(p => num(p.iteration)), logs = pts.map(p => Math.log10(p.loss));
    const x0 = Math.min(...its), x1 = Math.max(...its), y0 = Math.floor(Math.min(...logs));
    const y1 = Math.max(y0 + 1, Math.ceil(Math.max(...logs)));
    const X = i => L + (W - L - R) * (i - x0) / ((x1 - x0) || 1), Y = l => T + (H - T - B) * (1 - (l - y0) / (y1 - y0));
    const step = Math.ceil((y1 - y0) / 6);
    for (let e = y0; e <= y1; e += step)
      body += `<line class="gridline" x1="${L}" x2="${W - R}" y1="${Y(e)}" y2="${Y(e)}"/><text x="${L - 4}" y="${Y(e) + 3}" text-anchor="end">1e${e}</text>`;
    for (const i of [x0, Math.round((x0 + x1) / 2), x1]) body += `<text x="${X(i)}" y="${H - B + 13}" text-anchor="middle">${i}</text>`;
    body += `<polyline points="${pts.map((p, k) => X(its[k]).toFixed(1) + "," + Y(logs[k]).toFixed(1)).join(" ")}"/>`;
  } else body = `<polyline points=""/><text x="${W / 2}" y="${H / 2}" text-anchor="middle">no loss reported yet</text>`;
  return `<svg id="loss-curve" data-points="${pts.length}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
    <line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/><line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/>${body}
    <text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">iteration</text>
    <text transform="translate(12 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">loss (log)</text></svg>`;
}

// ---------- deep zoom (Leaflet from /vendor/leaflet), or the preview as a fallback ----------
const C = {job: null, map: null, layer: null, info: null, timer: null, fallbackAt: 0};
let leaflet = null;
function loadLeaflet() {
  if (window.L) return Promise.resolve(true);
  return leaflet = leaflet || new Promise(done => {
    const css = document.createElement("link");
    css.rel = "stylesheet"; css.href = "/vendor/leaflet/leaflet.css";
    const js = document.createElement("script");
    js.src = "/vendor/leaflet/leaflet.js";
    js.onload = () => done(!!window.L); js.onerror = () => done(false);
    document.head.append(css, js);
  });
}
const canvasURL = info => `/api/jobs/${enc(C.job)}/canvas/{z}/{x}/{y}.png?v=${num(info.version)}`;
function startCanvas(id) { stopCanvas(); C.job = id; canvasTick(); }
function stopCanvas() {
  clearTimeout(C.timer);
  if (C.map) C.map.remove();
  Object.assign(C, {job: null, map: null, layer: null, info: null, timer: null, fallbackAt: 0});
  window.canvasMap = window.canvasInfo = null;
  const view = $("#canvas-view"); view.innerHTML = ""; view.className = "";
  $("#zoom-1to1").hidden = true;
}
async function canvasTick() {
  const id = C.job;
  let info = null, why = "";
  try { info = await api(`/api/jobs/${enc(id)}/canvas`); } catch (e) { why = e.status === 404 ? "no canvas yet" : e.message; }
  if (C.job !== id) return;
  if (info && !(await loadLeaflet())) { why = "the deep zoom needs Leaflet (Debian's libjs-leaflet), which this server does not have"; info = null; }
  if (C.job !== id) return;
  if (!info) showFallback(why);
  else {
    const old = C.info;
    if (!C.map || old.width !== info.width || old.height !== info.height || old.maxZoom !== info.maxZoom) buildMap(info);
    else if (old.version !== info.version) C.layer.setUrl(canvasURL(info));  // tiles that landed appear
    C.info = window.canvasInfo = info;
    $("#canvas-text").textContent = `stage ${num(info.stage)}, ${num(info.tilesDone)} tiles landed, ${num(info.width)}×${num(info.height)}` + zoomText();
  }
  const jv = S.jobs.get(id), s = jv ? jv.status : J.detail && J.detail.status;
  if (!J.missing && (!s || jobActive(s))) C.timer = setTimeout(canvasTick, 2000);
}
function buildMap(info) {
  if (C.map) C.map.remove();
  const view = $("#canvas-view");
  view.innerHTML = "";
  const map = L.map(view, {crs: L.CRS.Simple, minZoom: 0, maxZoom: info.maxZoom + 2, zoomSnap: 1, attributionControl: false});
  const bounds = L.latLngBounds(map.unproject([0, info.height], info.maxZoom), map.unproject([info.width, 0], info.maxZoom));
  C.info = info;
  C.layer = L.tileLayer(canvasURL(info), {tileSize: 256, minZoom: 0, maxZoom: info.maxZoom + 2, maxNativeZoom: info.maxZoom,
                                          noWrap: true, bounds}).addTo(map);
  map.fitBounds(bounds);
  map.setMaxBounds(bounds.pad(0.5));
  map.on("zoomend", () => { if (C.info) $("#canvas-text").textContent = $("#canvas-text").textContent.replace(/ · showing .*$/, "") + zoomText(); });
  C.map = window.canvasMap = map;
  $("#zoom-1to1").hidden = false;
}
function zoomText() {
  if (!C.map || !C.info) return "";
  const d = C.map.getZoom() - C.info.maxZoom;
  return ` · showing ${d >= 0 ? 2 ** d + ":1" : "1:" + 2 ** -d}`;
}
function showFallback(why) {
  if (C.map) { C.map.remove(); C.map = window.canvasMap = null; C.info = window.canvasInfo = null; }
  const view = $("#canvas-view");
  $("#zoom-1to1").hidden = true;
  $("#canvas-text").textContent = (why ? why + ": " : "") + "showing the preview";
  let img = $("#canvas-fallback");
  if (!img) {
    view.className = ""; view.innerHTML = '<img id="canvas-fallback" alt="preview">';
    img = $("#canvas-fallback");
    img.onload = () => { img.dataset.loaded = "1"; }; img.onerror = () => { $("#canvas-text").textContent = (why ? why + "; " : "") + "no preview yet"; };
  }
  if (Date.now() - C.fallbackAt >= 3900) {  // refresh every few seconds while the job runs
    C.fallbackAt = Date.now();
    img.src = `/api/jobs/${enc(C.job)}/preview.png?t=${Date.now()}`;
  }
}
$("#zoom-1to1").onclick = () => {
  if (C.map && C.info) C.map.setView(C.map.unproject([C.info.width / 2, C.info.height / 2], C.info.maxZoom), C.info.maxZoom);
};

// ---------- actions: the server decides; its answer is shown verbatim ----------
function showMessage(text, kind) { const m = $("#message"); m.textContent = text; m.className = kind; }
async function act(button) {
  const action = button.dataset.action, worker = button.dataset.worker;
  let url, body;
  if (worker != null) url = `/api/workers/${enc(worker)}/${enc(action)}`;
  else if (J.id) {
    url = `/api/jobs/${enc(J.id)}/${enc(action)}`;
    if (action === "priority") { const v = $("#priority-input").value; body = JSON.stringify({priority: v === "" ? null : Number(v)}); }
  } else return;
  button.disabled = true;
  showMessage(`${action}…`, "pending");
  try {
    const r = await api(url, {method: "POST", body, headers: body ? {"Content-Type": "application/json"} : {}});
    showMessage(r && r.message ? r.message : action + ": done", "ok");
    if (r && r.job && S.jobs.has(r.job.id)) putJob(Object.assign({}, S.jobs.get(r.job.id), {status: r.job}));
    if (r && r.worker) putWorker(r.worker);
    schedule();
    if (J.id) refreshDetail();
  } catch (e) {
    showMessage(e.message, "error");
  } finally { button.disabled = false; }
}
document.addEventListener("click", e => {
  const b = e.target.closest("button[data-action]");
  if (b) return act(b);
  const stage = e.target.closest("#stages button[data-stage]");
  if (stage) { J.stage = +stage.dataset.stage; loadDetail(); return; }
  const rect = e.target.closest("#tile-grid rect.tile");
  if (rect && J.id) location.hash = `#/job/${enc(J.id)}/tile/${rect.closest("svg").dataset.stage}/${rect.dataset.index}`;
  if (e.target.id === "tile-locate" && C.map && C.info && J.detail) {  // fit the map to the tile, if the canvas is its stage's
    const t = J.detail.tiles.find(x => J.tile && x.index === J.tile.index) || (S.jobs.get(J.id) || {tiles: []}).tiles.find(x => J.tile && x.index === J.tile.index);
    if (t && J.tile.stage === C.info.stage)
      C.map.fitBounds(L.latLngBounds(C.map.unproject([t.x, t.y + t.height], C.info.maxZoom), C.map.unproject([t.x + t.width, t.y], C.info.maxZoom)));
  }
});
$("#priority-input").addEventListener("keydown", e => { if (e.key === "Enter") act($('button[data-action="priority"]')); });
$("#filter-state").onchange = $("#filter-owner").onchange = setFilters;

// ---------- start: sign in, who am I, the route, then the event stream (or polling) ----------
const viewing = "viewing (no key: actions need a key token — <code>stylefarm dashboard-token</code>)";
let pollTimer = null;
const setConn = t => { $("#conn").textContent = t; };
function poll() { api("/api/status").then(applySnapshot).catch(e => setConn("offline: " + e.message)); }
function startPolling(ms) { if (!pollTimer) { poll(); pollTimer = setInterval(poll, ms); } }
signIn().catch(e => setConn("sign-in failed: " + e.message)).finally(start);
function start() {
api("/api/whoami").then(w => {
  document.body.dataset.role = w.role;
  window.pageStats.signedIn = w.role;
  if (w.role === "viewer" || !w.name) $("#who").innerHTML = viewing;
  else $("#who").textContent = `signed in as ${w.name} (${w.role})`;
}).catch(() => { $("#who").innerHTML = viewing; });
window.addEventListener("hashchange", onRoute);
onRoute();
if (pollOnly || !window.EventSource) { setConn("polling"); startPolling(pollOnly ? 1000 : 2000); }
else {
  const es = new EventSource("/api/events");
  es.onmessage = e => {  // a full snapshot: replace everything
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    setConn("live"); window.pageStats.streamBytes += e.data.length; applySnapshot(JSON.parse(e.data));
  };
  es.addEventListener("changes", e => {
    window.pageStats.streamBytes += e.data.length; window.pageStats.changeEvents += 1; applyChanges(JSON.parse(e.data));
  });
  es.onerror = () => { setConn("stream lost: polling every 2 s"); startPolling(2000); };
  setTimeout(() => { if (!S.rendered) poll(); }, 4000);  // a stream that says nothing
}
}
</script></body></html>
"""#
}
