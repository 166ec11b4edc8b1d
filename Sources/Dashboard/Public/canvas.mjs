// A job's canvas: deep zoom with Leaflet (Debian's libjs-leaflet, served at /vendor/leaflet/ and loaded on first
// use as a classic script, `window.L`), or the preview image when the server has no Leaflet or no canvas yet.
import {$, enc, num, api, jobActive} from "./util.mjs";
import {S} from "./state.mjs";
import {J} from "./job.mjs";

export const C = {job: null, map: null, layer: null, info: null, timer: null, fallbackAt: 0};
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
export function startCanvas(id) { stopCanvas(); C.job = id; canvasTick(); }
export function stopCanvas() {
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
  const L = window.L, map = L.map(view, {crs: L.CRS.Simple, minZoom: 0, maxZoom: info.maxZoom + 2, zoomSnap: 1, attributionControl: false});
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
/** The "zoom to 1:1" button (once, at start). */
export function installCanvasControls() {
  $("#zoom-1to1").onclick = () => {
    if (C.map && C.info) C.map.setView(C.map.unproject([C.info.width / 2, C.info.height / 2], C.info.maxZoom), C.info.maxZoom);
  };
}
