// The jobs view (#/): the table of jobs with its filters, and a live card (tile grid, preview) per running job.
import {$, enc, esc, num, hms, when, badge, bar, jobLink, newestFirst, gridSVG, stageLine} from "./util.mjs";
import {S} from "./state.mjs";
import {route, updateRoute} from "./route.mjs";

function jobRow(j) {
  const s = j.status;
  return `<tr data-job="${esc(s.id)}" class="job ${esc(s.state)}"><td>${jobLink(s.id)}</td><td>${esc(s.name)}</td><td>${esc(s.owner || "–")}</td>
    <td>${badge(s.state, s.paused)}</td><td class="num">${num(s.priority)}</td><td>${bar(s.workFraction)}</td>
    <td class="num">${num(s.tilesDone)}/${num(s.tilesTotal)}</td><td>${when(s.submitted)}</td><td>${when(s.started)}</td>
    <td>${when(s.finished)}</td><td class="num">${hms(s.elapsed)}</td></tr>`;
}
export function renderJobs() {
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
/** A card per running job (tile grid and live preview), updated in place so the preview does not flicker. */
export function renderLive() {
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

/** The filters' values into the address (and the table). */
export function setFilters() {
  const q = new URLSearchParams();
  if ($("#filter-state").value) q.set("state", $("#filter-state").value);
  if ($("#filter-owner").value) q.set("owner", $("#filter-owner").value);
  history.replaceState(null, "", location.pathname + location.search + "#/" + (String(q) ? "?" + q : ""));
  updateRoute(); renderJobs();
}

