// The control room's entry point: routes between the views, what a flush draws, then signing in, who am I, and the
// event stream (or polling). Views: overview.mjs (jobs), job.mjs and canvas.mjs (a job), workers.mjs; shared:
// util.mjs, state.mjs, route.mjs, actions.mjs.
import {$, api, signIn} from "./util.mjs";
import {S, applySnapshot, applyChanges, setRenderer} from "./state.mjs";
import {route, updateRoute} from "./route.mjs";
import {renderJobs, renderLive} from "./overview.mjs";
import {renderWorkers} from "./workers.mjs";
import {J, enterJob, leaveJob, setTile, renderJobHead, renderGrid, refreshDetail} from "./job.mjs";
import {installCanvasControls} from "./canvas.mjs";
import {installActions, showMessage} from "./actions.mjs";

function onRoute() {
  const before = updateRoute();
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
/** What a flush draws: what changed since the last one. */
setRenderer(() => {
  if (S.jobsDirty || !S.rendered) {
    renderJobs(); renderLive();
    if (J.id && S.changedJobs.has(J.id)) { renderJobHead(); renderGrid(); refreshDetail(); }
    S.jobsDirty = false; S.changedJobs.clear();
  }
  renderWorkers();
});
installCanvasControls();
installActions();

// ?poll=1: poll /api/status every second instead of the event stream.
const pollOnly = new URLSearchParams(location.search).get("poll") === "1";
const viewing = "viewing (no key: actions need a key token — <code>stylefarm dashboard-token</code>)";
let pollTimer = null;
const setConn = t => { $("#conn").textContent = t; };
function poll() { api("/api/status").then(applySnapshot).catch(e => setConn("offline: " + e.message)); }
function startPolling(ms) { if (!pollTimer) { poll(); pollTimer = setInterval(poll, ms); } }
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
signIn().catch(e => setConn("sign-in failed: " + e.message)).finally(start);
