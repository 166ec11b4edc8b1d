import CoreMetrics
import FarmProtocol
import Foundation
import Synchronization

/// The labelled series an operator watches (Docs/operations.md, "Monitoring"). The gauges are computed from each
/// snapshot the coordinator publishes, so the metrics keep no second copy of its state; the counters are bumped by the
/// coordinator's shell. Every label takes its values from a fixed list, each series present from the start (0 when
/// none): a label never holds a string a peer chose.
public final class FarmMetrics: Sendable {
    /// `stylefarm_jobs{state}`: a job's `JobState`, or `paused` for a job paused by hand that has not ended.
    public static let jobStates = JobState.allCases.map(\.rawValue) + ["paused"]
    /// `stylefarm_workers{state}`: `draining` (told to take no more tiles), else `busy` (holds a lease), else
    /// `blocklisted` (idle, and blocklisted for at least one job that has not ended), else `idle`.
    public static let workerStates = ["idle", "busy", "draining", "blocklisted"]
    /// `stylefarm_lease_failures_total{reason}`: `FarmScheduler.LeaseFailure`'s raw values (a test keeps them equal).
    public static let leaseFailureReasons = ["lapsed", "capped", "worker_lost", "failed"]
    /// `stylefarm_refusals_total{reason}`: the `code` of every `error` the coordinator answers a peer with (a message
    /// that does not decode: `ProtocolError.code`; the coordinator's own: `malformed`, `busy`, `forbidden`, `state`,
    /// `unknown-worker`), a control's `ControlRefusal.Code` (on the wire or from the dashboard): every `ErrorCode` but
    /// `shutdown`; and `fetch` (a blob fetch refused: over its budget, or no such blob). Any other code counts as `other`.
    public static let refusalReasons = ErrorCode.known.filter { $0 != .shutdown }.map(\.rawValue) + ["fetch", "other"]

    let jobs: [String: Gauge]
    let workers: [String: Gauge]
    let tilesLeased: Gauge
    let tilesQueued: Gauge
    let oldestStage: Gauge
    let leaseFailures: [String: CoreMetrics.Counter]
    let refusals: [String: CoreMetrics.Counter]
    let cpuSeconds: FloatingPointCounter
    /// The process's CPU seconds at the last scrape (`recordCPU`).
    let cpuSeen = Mutex(0.0)

    init(factory: any MetricsFactory) {
        func gauges(_ name: String, _ label: String, _ values: [String]) -> [String: Gauge] {
            Dictionary(
                uniqueKeysWithValues: values.map {
                    ($0, Gauge(label: name, dimensions: [(label, $0)], factory: factory))
                })
        }
        func counters(_ name: String, _ label: String, _ values: [String]) -> [String: CoreMetrics.Counter] {
            Dictionary(
                uniqueKeysWithValues: Set(values).map {
                    ($0, CoreMetrics.Counter(label: name, dimensions: [(label, $0)], factory: factory))
                })
        }
        jobs = gauges("stylefarm_jobs", "state", Self.jobStates)
        workers = gauges("stylefarm_workers", "state", Self.workerStates)
        tilesLeased = Gauge(label: "stylefarm_tiles_leased", factory: factory)
        tilesQueued = Gauge(label: "stylefarm_tiles_queued", factory: factory)
        oldestStage = Gauge(label: "stylefarm_oldest_stage_age_seconds", factory: factory)
        leaseFailures = counters("stylefarm_lease_failures_total", "reason", Self.leaseFailureReasons)
        refusals = counters("stylefarm_refusals_total", "reason", Self.refusalReasons)
        cpuSeconds = FloatingPointCounter(label: "stylefarm_coordinator_cpu_seconds_total", factory: factory)
        for gauge in Array(jobs.values) + Array(workers.values) + [tilesLeased, tilesQueued, oldestStage] {
            gauge.record(0)
        }
        for counter in Array(leaseFailures.values) + Array(refusals.values) { counter.increment(by: 0) }
        cpuSeconds.increment(by: 0)
    }

    /// The gauges from a snapshot: one pass over its jobs, their current stages' tiles, and its workers.
    func record(_ snapshot: FarmSnapshot) {
        var jobCounts = Dictionary(uniqueKeysWithValues: Self.jobStates.map { ($0, 0) })
        var queued = 0, oldest = 0.0
        var active = Set<JobID>()
        for view in snapshot.jobs {
            let status = view.status, paused = status.paused == true && !status.state.isFinal
            jobCounts[paused ? "paused" : status.state.rawValue, default: 0] += 1
            guard !status.state.isFinal else { continue }
            active.insert(status.id)
            queued += view.tiles.reduce(0) { $0 + ($1.state == "pending" ? 1 : 0) }
            if !paused, let age = view.stageElapsed { oldest = max(oldest, age) }
        }
        var workerCounts = Dictionary(uniqueKeysWithValues: Self.workerStates.map { ($0, 0) })
        var leased = 0
        for w in snapshot.workers {
            leased += w.leases.count
            let state =
                w.draining == true
                ? "draining"
                : !w.leases.isEmpty
                    ? "busy"
                    : (w.blocklisted ?? []).contains(where: active.contains) ? "blocklisted" : "idle"
            workerCounts[state, default: 0] += 1
        }
        for (state, count) in jobCounts { jobs[state]?.record(count) }
        for (state, count) in workerCounts { workers[state]?.record(count) }
        tilesLeased.record(leased)
        tilesQueued.record(queued)
        oldestStage.record(oldest)
    }

    /// Counts a lease failure; a reason outside `leaseFailureReasons` is not counted.
    func countLeaseFailure(_ reason: String) { leaseFailures[reason]?.increment() }

    /// Counts a refusal by its code (`other` for a code outside `refusalReasons`).
    func countRefusal(_ code: String) { (refusals[code] ?? refusals["other"])?.increment() }

    /// Brings `stylefarm_coordinator_cpu_seconds_total` up to the process's CPU time (user and system, all threads:
    /// getrusage), at each scrape. rate(cpu) / rate(stylefarm_tiles_done_total) is the coordinator's CPU per tile.
    func recordCPU() {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        let now = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        let delta = cpuSeen.withLock { seen -> Double in
            defer { seen = max(seen, now) }
            return max(now - seen, 0)
        }
        if delta > 0 { cpuSeconds.increment(by: delta) }
    }
}
