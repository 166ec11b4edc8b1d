// The workers view (#/workers): one table, built once, then only the rows that changed are redrawn.
import {$, enc, esc, num, si, badge, jobLink} from "./util.mjs";
import {S} from "./state.mjs";

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
export function renderWorkers() {
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
