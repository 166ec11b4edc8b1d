/// The dashboard: one self-contained page. It reads `/api/status` at once, then follows `/api/events`
/// (falling back to polling every 2 s if the event stream fails; `?poll=1` polls every second instead, for
/// clients that cannot hold a stream open, such as headless captures), and redraws each job's tile grid,
/// preview, progress, throughput and ETA, and the workers table. A `?token=` in the page's URL is passed on.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StyleFarm</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; background: #f7f7f5; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .8em; } h2 { font-size: 1.1em; margin: 0 0 .4em; }
.job { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin-bottom: 1em; }
.row { display: flex; gap: 1.5em; flex-wrap: wrap; align-items: flex-start; }
.bar { height: 10px; width: 320px; background: #e5e5e5; border-radius: 5px; overflow: hidden; }
.bar > div { height: 100%; background: #3b7dd8; }
svg.grid { background: #eee; border: 1px solid #ccc; }
rect.tile { stroke: #fff; stroke-width: 1; vector-effect: non-scaling-stroke; }
rect.pending { fill: #d0d0d0; } rect.rendering { fill: #f0b429; } rect.done { fill: #3fa34d; }
img.preview { max-width: 384px; border: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #e5e5e5; }
.muted { color: #777; }
</style></head>
<body>
<h1>StyleFarm <span id="updated" class="muted"></span></h1>
<div id="jobs"><p class="muted">no jobs yet</p></div>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>worker</th><th>name</th><th>state</th><th>last heard</th><th>tiles</th><th>compute</th><th>threads</th><th>memory limit</th><th>speed (px·it/s)</th><th>BLAS kernel</th></tr></thead><tbody></tbody></table>
<script>
const params = new URLSearchParams(location.search), token = params.get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
function fmt(s) { if (s == null) return "–"; s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(x).padStart(2, "0"); }
function esc(t) { return String(t).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
function jobHTML(j) {
  const s = j.status, pct = (100 * s.workFraction).toFixed(1);
  const rects = j.tiles.map(t => `<rect class="tile ${t.state}" data-state="${t.state}" x="${t.x}" y="${t.y}" width="${t.width}" height="${t.height}">` +
    `<title>tile ${t.index}: ${t.state}${t.worker ? " on " + esc(t.worker) : ""}${t.iteration != null ? ", iteration " + t.iteration + "/" + t.iterations + ", loss " + t.loss.toExponential(3) : ""}</title></rect>`).join("");
  const w = 320, h = Math.max(1, Math.round(320 * j.height / j.width));
  return `<div class="job" id="job-${s.id}" data-state="${s.state}"><h2>${esc(s.name)} <span class="muted">${s.id}</span></h2>
    <div class="row"><div>
      <p><b>${s.state}</b>${s.detail ? " — " + esc(s.detail) : ""}</p>
      <div class="bar"><div style="width:${pct}%"></div></div>
      <p>${pct}% · tiles ${s.tilesDone}/${s.tilesTotal} · stage ${Math.min(s.stage + 1, s.stages)}/${s.stages}
         (level ${j.level + 1}/${j.levels}, ${j.pass}, ${j.width}×${j.height})</p>
      <p>elapsed ${fmt(s.elapsed)} · ETA ${fmt(j.eta)} · ${j.tilesPerMinute.toFixed(1)} tiles/min</p>
      <svg class="grid" width="${w}" height="${h}" viewBox="0 0 ${j.width} ${j.height}" preserveAspectRatio="none">${rects}</svg>
    </div><div><img class="preview" alt="preview" data-job="${s.id}"></div></div></div>`;
}
let previewStamp = {};
function render(snap) {
  document.getElementById("updated").textContent = "· updated " + new Date(snap.time * 1000).toLocaleTimeString();
  const jobs = document.getElementById("jobs");
  jobs.innerHTML = snap.jobs.length ? snap.jobs.slice().reverse().map(jobHTML).join("") : '<p class="muted">no jobs yet</p>';
  for (const img of jobs.querySelectorAll("img.preview")) {
    const id = img.dataset.job;
    img.onload = () => { img.dataset.loaded = "1"; };
    img.src = "/api/jobs/" + id + "/preview.png" + q + (q ? "&" : "?") + "t=" + (previewStamp[id] = (previewStamp[id] || 0) + 1);
  }
  document.querySelector("#workers tbody").innerHTML = snap.workers.map(w => `<tr class="worker"><td>${esc(w.id)}</td><td>${esc(w.name)}</td>
    <td>${w.leases.length ? "rendering" : "idle"}</td><td>${w.silentFor != null ? w.silentFor.toFixed(1) + " s ago" : "–"}</td>
    <td>${w.tiles}</td><td>${fmt(w.computeSeconds)}</td><td>${w.threads}</td>
    <td>${w.memoryLimit != null ? Math.round(w.memoryLimit / 1048576) + " MiB" : "–"}</td><td>${w.speed != null ? Math.round(w.speed) : "–"}</td><td title="${esc(w.kernel || "")}">${esc((w.kernel || "–").replace(/^BLAS kernel /, "").replace(/ \(.*/, ""))}</td></tr>`).join("") || '<tr><td colspan="10" class="muted">no workers connected</td></tr>';
}
function poll() { fetch("/api/status" + q).then(r => r.json()).then(render).catch(() => {}); }
poll();
let polling = null;
if (params.get("poll")) {
  polling = setInterval(poll, 1000);
} else {
  try {
    const es = new EventSource("/api/events" + q);
    es.onmessage = e => render(JSON.parse(e.data));
    es.onerror = () => { if (!polling) polling = setInterval(poll, 2000); };
  } catch (e) { polling = setInterval(poll, 2000); }
}
</script></body></html>
"""#
}
