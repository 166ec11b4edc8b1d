// Actions: the server decides; its answer is shown verbatim. Buttons carry `data-action` (and `data-worker` on the
// workers table); a job's page acts on its job.
import {$, enc, api} from "./util.mjs";
import {S, putJob, putWorker, schedule} from "./state.mjs";
import {J, loadDetail, refreshDetail} from "./job.mjs";
import {C} from "./canvas.mjs";
import {setFilters} from "./overview.mjs";

export function showMessage(text, kind) { const m = $("#message"); m.textContent = text; m.className = kind; }
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
/** The click and key handlers of every button, stage and tile (once, at start). */
export function installActions() {
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
        C.map.fitBounds(window.L.latLngBounds(C.map.unproject([t.x, t.y + t.height], C.info.maxZoom), C.map.unproject([t.x + t.width, t.y], C.info.maxZoom)));
    }
  });
  $("#priority-input").addEventListener("keydown", e => { if (e.key === "Enter") act($('button[data-action="priority"]')); });
  $("#filter-state").onchange = $("#filter-owner").onchange = setFilters;
}
