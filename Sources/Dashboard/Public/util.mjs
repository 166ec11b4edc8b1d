// Requests, signing in and formatting: what every view of the control room uses. No state of its own.

export const $ = s => document.querySelector(s), enc = encodeURIComponent;
export const esc = v => String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
/**
 * Signing in: a token in the address's fragment (`#token=…`, or `?token=…` after a route: never sent to a server, so
 * never in a proxy's log) is exchanged for a session cookie, which every request then carries (the event stream and
 * images included), and is taken out of the address at once.
 */
export async function signIn() {
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
export async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({cache: "no-store", credentials: "same-origin"}, opts));
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw Object.assign(new Error(body && body.message ? body.message : `HTTP ${r.status} ${r.statusText}`), {status: r.status, code: body && body.code});
  return body;
}
export const pad = n => String(n).padStart(2, "0");
export const num = v => Number(v) || 0;
export function hms(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  return Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
}
/** Local time: HH:MM:SS today, else with the date. */
export function when(t) {
  if (!t) return "–";
  const d = new Date(t * 1000), time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}
export const loss = x => x == null ? "–" : Number(x).toExponential(3);
export const si = x => x == null ? "–" : x >= 1e6 ? (x / 1e6).toFixed(2) + " M" : x >= 1e3 ? (x / 1e3).toFixed(1) + " k" : String(Math.round(x));
export const badge = (state, paused) => `<span class="badge ${esc(state)}">${esc(state)}</span>` + (paused ? ' <span class="badge paused">paused</span>' : "");
export const bar = (f, big) => { const p = (100 * Math.min(1, num(f))).toFixed(1); return `<span class="bar${big ? " big" : ""}"><i style="width:${p}%"></i></span> ${p}%`; };
export const jobLink = id => `<a href="#/job/${esc(enc(id))}">${esc(id)}</a>`;
export const jobActive = s => s && (s.state === "running" || s.state === "queued");

/** Jobs newest first (ties by id). */
export const newestFirst = (a, b) => (b.status.submitted || 0) - (a.status.submitted || 0) || (a.status.id < b.status.id ? 1 : -1);
/** The tile grid of a stage: an SVG in the stage's canvas coordinates, one rect per tile. */
export function gridSVG(w, h, tiles, stage, selected) {
  const side = tiles.length ? Math.min(...tiles.map(t => Math.min(num(t.width), num(t.height)))) : 64;
  return `<svg class="grid" data-stage="${num(stage)}" viewBox="0 0 ${num(w) || 1} ${num(h) || 1}" preserveAspectRatio="xMidYMid meet">` +
    tiles.map(t => `<rect class="tile ${esc(t.state)}${t.index === selected ? " selected" : ""}" data-index="${num(t.index)}" data-state="${esc(t.state)}" ` +
      `x="${num(t.x)}" y="${num(t.y)}" width="${num(t.width)}" height="${num(t.height)}"><title>tile ${num(t.index)}: ${esc(t.state)}` +
      (t.worker ? ` on ${esc(t.worker)}` : "") + (t.iteration != null ? `, iteration ${num(t.iteration)}/${num(t.iterations)}` : "") +
      (t.loss != null ? `, loss ${loss(t.loss)}` : "") + (t.attempts ? `, ${num(t.attempts)} lease(s)` : "") + `</title></rect>`).join("") +
    tiles.map(t => `<text x="${num(t.x) + num(t.width) / 2}" y="${num(t.y) + num(t.height) / 2}" font-size="${(side / 4).toFixed(0)}">${num(t.index)}</text>`).join("") +
    `</svg>`;
}
export const stageLine = j => `${Math.min(num(j.status.stage) + 1, num(j.status.stages))}/${num(j.status.stages)} (level ${num(j.level)}, ${esc(j.pass)}, ${num(j.width)}×${num(j.height)})`;
