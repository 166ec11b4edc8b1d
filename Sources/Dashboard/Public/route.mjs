// The address: #/  #/workers  #/job/ID  #/job/ID/tile/STAGE/TILE, with ?state= and ?owner= filters on #/.
// `route` is the one parsed copy every view reads; main.mjs updates it in place on each hashchange.

export const route = {page: "jobs", query: new URLSearchParams()};

/** Reads the address into `route` and returns what it was before. */
export function updateRoute() {
  const before = Object.assign({}, route);
  for (const k of Object.keys(route)) delete route[k];
  Object.assign(route, parseRoute());
  return before;
}

export function parseRoute() {
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
