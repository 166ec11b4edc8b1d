import CoreMetrics
import FarmProtocol
import Foundation
import Prometheus
import Synchronization

/// What the dashboard shows: a snapshot of the farm the coordinator refreshes about twice a second.
public struct FarmSnapshot: Codable, Sendable {
    public var time: Double
    public var jobs: [JobView]
    public var workers: [WorkerStatus]
    /// The monitor's revision of it (`FarmMonitor.changes(since:)` counts from here).
    public var revision: Int?

    public init(time: Double = 0, jobs: [JobView] = [], workers: [WorkerStatus] = []) {
        self.time = time
        self.jobs = jobs
        self.workers = workers
    }
}

/// One job on the dashboard: its status, its current stage's tile grid, throughput and ETA.
public struct JobView: Codable, Sendable {
    public var status: JobStatus
    /// Level of the current stage (0 = the coarse, untiled level) and how many there are.
    public var level: Int
    public var levels: Int
    /// "coarse", "tiles" or "shifted tiles".
    public var pass: String
    /// The current stage's canvas size and tiles (core rectangles).
    public var width: Int
    public var height: Int
    public var tiles: [TileView]
    /// In a change (`FarmChanges`) of a job whose tile layout stayed the same: `tiles` holds only the tiles that
    /// changed, to be merged by index into the ones the page has. Absent in snapshots.
    public var tilesChangedOnly: Bool?
    public var tilesPerMinute: Double
    /// Seconds left, from the elapsed time and the fraction of work done; nil before any progress.
    public var eta: Double?
    /// Seconds since its current stage became runnable (preparing, blending and writing count to the stage before):
    /// nil before its first stage runs and once it has ended. The metrics' `stylefarm_oldest_stage_age_seconds`.
    public var stageElapsed: Double?

    public init(
        status: JobStatus, level: Int, levels: Int, pass: String, width: Int, height: Int, tiles: [TileView],
        tilesPerMinute: Double, eta: Double?
    ) {
        (self.status, self.level, self.levels, self.pass) = (status, level, levels, pass)
        (self.width, self.height, self.tiles, self.tilesPerMinute, self.eta) = (
            width, height, tiles, tilesPerMinute, eta
        )
    }
}

/// One tile of the current stage.
public struct TileView: Codable, Sendable, Equatable {
    public var index: Int
    public var x: Int, y: Int, width: Int, height: Int
    /// "pending", "rendering" or "done".
    public var state: String
    public var worker: String?
    public var iteration: Int?
    public var iterations: Int?
    /// The latest loss while rendering; the final loss once done.
    public var loss: Double?
    /// Leases it was given, and the seconds its finished copy took.
    public var attempts: Int?
    public var seconds: Double?

    public init(index: Int, x: Int, y: Int, width: Int, height: Int, state: String) {
        (self.index, self.x, self.y, self.width, self.height, self.state) = (index, x, y, width, height, state)
    }
}

/// The coordinator's window for monitoring: the latest snapshot, each job's preview PNG, and the Prometheus
/// metrics (through swift-metrics, with a registry of its own). Thread-safe: the coordinator writes, the
/// dashboard's threads read.
public final class FarmMonitor: Sendable {
    /// The latest snapshot and each job's preview PNG.
    let published = Mutex<(snapshot: FarmSnapshot, previews: [JobID: [UInt8]])>((FarmSnapshot(), [:]))
    /// What changed in which revision, for the event streams (`changes(since:)`).
    let tracker = Mutex(ChangeTracker())

    public let registry = PrometheusCollectorRegistry()
    public let tilesDone: CoreMetrics.Counter
    public let tilesFailed: CoreMetrics.Counter
    public let tilesRequeued: CoreMetrics.Counter
    /// Straggler copies whose other copy won.
    public let copiesRevoked: CoreMetrics.Counter
    public let tileSeconds: CoreMetrics.Recorder
    public let workersAlive: CoreMetrics.Gauge
    public let bytesIn: CoreMetrics.Counter
    public let bytesOut: CoreMetrics.Counter
    public let authFailures: CoreMetrics.Counter
    public let messagesDropped: CoreMetrics.Counter
    /// Webhook events delivered, given up on after every try, and dropped from a full queue (one count per URL).
    public let webhooksDelivered: CoreMetrics.Counter
    public let webhooksFailed: CoreMetrics.Counter
    public let webhooksDropped: CoreMetrics.Counter
    /// The labelled series: jobs and workers by state, tiles leased and queued, the oldest stage's age, lease failures
    /// and refusals by reason, the coordinator's CPU seconds.
    public let metrics: FarmMetrics

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600]
        tilesDone = CoreMetrics.Counter(label: "stylefarm_tiles_done_total", factory: factory)
        tilesFailed = CoreMetrics.Counter(label: "stylefarm_tiles_failed_total", factory: factory)
        tilesRequeued = CoreMetrics.Counter(label: "stylefarm_tiles_requeued_total", factory: factory)
        copiesRevoked = CoreMetrics.Counter(label: "stylefarm_copies_revoked_total", factory: factory)
        tileSeconds = CoreMetrics.Recorder(label: "stylefarm_tile_seconds", aggregate: true, factory: factory)
        workersAlive = CoreMetrics.Gauge(label: "stylefarm_workers_alive", factory: factory)
        bytesIn = CoreMetrics.Counter(label: "stylefarm_bytes_in_total", factory: factory)
        bytesOut = CoreMetrics.Counter(label: "stylefarm_bytes_out_total", factory: factory)
        authFailures = CoreMetrics.Counter(label: "stylefarm_auth_failures_total", factory: factory)
        messagesDropped = CoreMetrics.Counter(label: "stylefarm_messages_dropped_total", factory: factory)
        webhooksDelivered = CoreMetrics.Counter(label: "stylefarm_webhooks_delivered_total", factory: factory)
        webhooksFailed = CoreMetrics.Counter(label: "stylefarm_webhooks_failed_total", factory: factory)
        webhooksDropped = CoreMetrics.Counter(label: "stylefarm_webhooks_dropped_total", factory: factory)
        metrics = FarmMetrics(factory: factory)
    }

    public var snapshot: FarmSnapshot { published.withLock { $0.snapshot } }

    public func preview(job: JobID) -> [UInt8]? { published.withLock { $0.previews[job] } }

    /// Publishes a snapshot: what differs from the last one (job by job, worker by worker) becomes the next revision.
    /// A worker's `silentFor` is kept in whole seconds, so a worker that heartbeats is not a change every time.
    public func publish(_ snapshot: FarmSnapshot) {
        var snapshot = snapshot
        for i in snapshot.workers.indices {
            snapshot.workers[i].silentFor = snapshot.workers[i].silentFor.map { $0.rounded(.down) }
        }
        snapshot.revision = tracker.withLock { $0.record(snapshot) }
        published.withLock { $0.snapshot = snapshot }
        workersAlive.record(snapshot.workers.count)
        metrics.record(snapshot)
    }

    /// The jobs and workers that changed or went since revision `since`; nil when that is too old to tell (then send the
    /// whole snapshot).
    public func changes(since: Int) -> FarmChanges? { tracker.withLock { $0.changes(since: since) } }

    public func publish(preview: [UInt8], job: JobID) {
        published.withLock { $0.previews[job] = preview }
    }

    /// Drops a pruned job's preview (retention), so the previews do not grow with every job ever run.
    public func forget(job: JobID) {
        _ = published.withLock { $0.previews.removeValue(forKey: job) }
    }

    /// A request to the dashboard was refused for a missing or wrong token.
    public func countAuthFailure() { authFailures.increment() }

    /// A lease ended without a result: `reason` is a `FarmScheduler.LeaseFailure` (`FarmMetrics.leaseFailureReasons`).
    public func countLeaseFailure(_ reason: String) { metrics.countLeaseFailure(reason) }

    /// The coordinator refused something with this code (`FarmMetrics.refusalReasons`; any other counts as `other`).
    public func countRefusal(_ code: String) { metrics.countRefusal(code) }

    /// Counts `message` as a refusal when it is one: an `error` (by its code; `shutdown` is none) or a `reject` of a
    /// fetch (one without a lease). Only those two commands' bodies are decoded, so the loop's common sends cost nothing.
    public func countRefusal(answering message: Message) {
        switch message.command {
        case .error:
            guard let body = try? message.decode(ErrorBody.self), body.code != .shutdown else { return }
            metrics.countRefusal(body.code.rawValue)
        case .reject:
            guard let body = try? message.decode(RejectBody.self), body.lease == nil else { return }
            metrics.countRefusal("fetch")
        default: return
        }
    }

    /// The metrics in Prometheus's text format (the coordinator's CPU time brought up to date first).
    public func prometheusText() -> String {
        metrics.recordCPU()
        return registry.emitToString()
    }
}
