// A job's page (#/job/ID, #/job/ID/tile/STAGE/TILE): status and controls, settings, stages, the tile grid, a tile's
// loss curve, the farm log; its canvas is canvas.mjs. `J` is the page's state.
import {$, enc, esc, num, hms, when, loss, badge, bar, api, gridSVG, stageLine} from "./util.mjs";
import {S} from "./state.mjs";
import {startCanvas, stopCanvas} from "./canvas.mjs";

export const J = {id: null, detail: null, stage: null, tile: null, seq: 0, last: 0, detailTimer: null, tileTimer: null};
export function enterJob(id, tile) {
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
export function leaveJob() {
  clearTimeout(J.detailTimer); clearTimeout(J.tileTimer); J.detailTimer = J.tileTimer = null;
  J.id = null; J.seq++; stopCanvas();
}
/** The job's status, from the live snapshot when it has it (fresher), else from its page. */
export function renderJobHead() {
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
export async function loadDetail() {
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
export function refreshDetail() {
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
export function renderGrid() {
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
export function setTile(t) {
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
