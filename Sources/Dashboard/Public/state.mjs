// The farm as the page knows it: maps keyed by id, fed by the event stream's snapshots and changes; a JSON copy of
// each entry tells what really changed. Rendering is batched: `schedule` runs the views' renderer once per turn.
import {$, when} from "./util.mjs";

export const S = {jobs: new Map(), workers: new Map(), json: new Map(), time: 0, revision: 0,
           jobsDirty: false, changedJobs: new Set(), dirtyWorkers: new Set(), rebuildWorkers: true, rendered: false};
export function putJob(j) {
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
export function putWorker(w) {
  const s = JSON.stringify(w);
  if (S.json.get("w" + w.id) === s) return;
  S.json.set("w" + w.id, s); S.workers.set(w.id, w); S.dirtyWorkers.add(w.id);
}
export function dropJob(id) { if (S.jobs.delete(id)) { S.json.delete("j" + id); S.jobsDirty = true; S.changedJobs.add(id); } }
export function dropWorker(id) { if (S.workers.delete(id)) { S.json.delete("w" + id); S.dirtyWorkers.add(id); } }
/** A full snapshot replaces everything (only what differs is re-rendered). */
export function applySnapshot(s) {
  const jobIds = new Set(s.jobs.map(j => j.status.id)), workerIds = new Set(s.workers.map(w => w.id));
  for (const id of [...S.jobs.keys()]) if (!jobIds.has(id)) dropJob(id);
  for (const id of [...S.workers.keys()]) if (!workerIds.has(id)) dropWorker(id);
  s.jobs.forEach(putJob); s.workers.forEach(putWorker);
  S.time = s.time; S.revision = s.revision ?? S.revision;
  schedule();
}
export function applyChanges(c) {
  (c.jobs || []).forEach(putJob); (c.workers || []).forEach(putWorker);
  (c.removedJobs || []).forEach(dropJob); (c.removedWorkers || []).forEach(dropWorker);
  if (c.time) S.time = c.time;
  S.revision = c.revision ?? S.revision;
  schedule();
}

// ---------- rendering, batched ----------
let scheduled = false, renderer = () => {};
/** Sets what a flush draws (main.mjs: the views). */
export function setRenderer(draw) { renderer = draw; }
export function schedule() { if (!scheduled) { scheduled = true; setTimeout(flush, 0); } }
// What the page costs: each flush's milliseconds and the stream's bytes (read by `stylefarm bench-farm --control-room`).
window.pageStats = { flushes: [], streamBytes: 0, changeEvents: 0 };
function flush() {
  const t0 = performance.now();
  scheduled = false;
  $("#updated").textContent = S.time ? "updated " + when(S.time) : "";
  renderer();
  if (!S.rendered) {
    S.rendered = true;
    void document.body.offsetHeight;  // include layout in the measure
    window.renderMs = Math.round(performance.now());
    document.body.dataset.renderMs = window.renderMs;
    document.body.dataset.ready = "1";
  }
  const f = window.pageStats.flushes; f.push(performance.now() - t0); if (f.length > 2000) f.shift();
}
