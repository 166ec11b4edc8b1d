import FarmProtocol

/// The coordinator's state machine: jobs, their current stage's tiles, workers, leases. Pure: no I/O and no
/// clock (callers pass `now` in seconds), so every rule below is unit-tested directly.
///
/// Rules (Docs/protocol.md, "Scheduling"):
/// - A worker holds at most `credit` leases; tiles go to the highest-priority runnable job first (then the
///   oldest), lowest tile index first.
/// - A lease lapses `leaseSeconds` after its last renewal (assignment or progress); a worker is lost when it
///   has been silent for `heartbeat × liveness`. Either way its tiles go back to pending and count as a
///   failure of that tile on that worker.
/// - A result or progress with a token that is not live (lapsed, revoked, from before a restart) is rejected.
/// - A worker that fails `workerFailureLimit` tiles of a job is blocklisted for that job; a tile that failed
///   on `tileFailureLimit` different workers fails the job.
/// - A job whose tiles wait with no usable worker waits and says why; nothing blocks.
/// - A worker never gets a tile whose planned peak memory exceeds the limit it reported (`--max-memory`).
/// - Faster workers are served first, and when a stage's last tiles are fewer than the workers, a tile goes to
///   the worker expected to finish it first (speed: measured from results; before a worker's first result, what
///   it reported in `ready`, capped at the fastest measured speed), so a slow
///   worker is left idle rather than handed a tile that would hold the stage up.
/// - Straggler copies: a worker with nothing to do, while a stage has no pending tiles but tiles still running,
///   gets a copy of the running tile expected to finish last (at most two leases per tile). The first valid
///   result wins; the other lease is revoked (`revoked` tells its worker to stop) and its result is rejected.
public struct FarmScheduler: Sendable {
    /// The shortest time a tile is taken to have: a result on the same clock tick as its lease (a fake clock, a
    /// coarse one) must not make a speed infinite.
    static let shortestTile = 0.001

    public struct Config: Sendable {
        public var heartbeat = 1.0
        public var liveness = 3
        public var leaseSeconds = 60.0
        public var credit = 1
        public var workerFailureLimit = 3
        public var tileFailureLimit = 3
        /// Send copies of a stage's last running tiles to idle workers.
        public var stragglerCopies = true
        /// Progress renews a lease for at most this many times what its tile should take at the slowest rate of its
        /// stage so far (seconds per pixel-iteration, from lease to result, as measured here, times the tile's work),
        /// and never less than `leaseSeconds`: a worker that keeps reporting progress on a tile it never finishes loses
        /// it then, and the tile goes to another worker. Ten: a worker ten times slower than the slowest yet still
        /// finishes, whatever its tile's size; before a stage's first result there is no cap.
        public var leaseLifeFactor = 10.0
        public init() {}
    }

    public struct TileID: Hashable, Sendable, Codable, CustomStringConvertible {
        public var job: JobID
        public var stage: Int
        public var tile: Int
        public init(job: JobID, stage: Int, tile: Int) { (self.job, self.stage, self.tile) = (job, stage, tile) }
        public var description: String { "\(job)/s\(stage)/t\(tile)" }
    }

    public struct Lease: Sendable, Equatable {
        public var token: LeaseToken
        public var tile: TileID
        public var worker: WorkerID
        /// The holder's machine (`identity`: its failures and blocklist) and `account` (its key: a tile's distinct
        /// failures count by it).
        public var identity: String
        public var account: String
        public var expires: Double
        /// When it was granted.
        public var started: Double
        /// A straggler copy of a tile that another lease still runs.
        public var copy: Bool

        /// Seconds a worker reports for this lease's tile, as far as they can be true: finite, not negative, and no
        /// longer than the lease has existed.
        public func plausible(seconds: Double, now: Double) -> Double {
            seconds.isFinite ? min(max(seconds, 0), max(now - started, 0)) : 0
        }
    }

    public enum Event: Equatable, Sendable {
        /// Send this tile to this worker under this lease.
        case assign(worker: WorkerID, tile: TileID, lease: LeaseToken)
        /// Every tile of the stage is done: blend it and start the next one (`startStage`) or `finish` the job.
        case stageFinished(job: JobID, stage: Int)
        case jobFailed(job: JobID, reason: String)
        /// A worker left or went silent (`reason`): its name and the host it said it runs on, as it registered; the
        /// `requeued` events for its leases follow.
        case workerLost(worker: WorkerID, name: String, host: String?, reason: String)
        /// The lease lapsed or its worker was lost; the tile is pending again.
        case requeued(tile: TileID, worker: WorkerID, lease: LeaseToken, reason: String, cause: LeaseFailure)
        case workerBlocklisted(worker: WorkerID, job: JobID)
        /// Another lease of this tile won (straggler copies): tell this worker to stop; its lease is no longer live.
        case revoked(worker: WorkerID, tile: TileID, lease: LeaseToken)
    }

    /// Why a lease ended without a result (its tile is pending again): a bounded set, for the metrics' `reason` label.
    public enum LeaseFailure: String, Sendable, CaseIterable {
        /// No progress for `leaseSeconds`.
        case lapsed
        /// Progress went on past its life's cap (`Config.leaseLifeFactor`) without a result.
        case capped
        /// Its worker was lost: silent, unreachable, gone, or registered again.
        case workerLost = "worker_lost"
        /// Its worker said it could not render the tile (`failed`), or sent a result that was not valid.
        case failed
    }

    /// What became of a result or progress message.
    public enum Verdict: Equatable, Sendable {
        case accepted(TileID)
        case rejected(String)
    }

    struct WorkerState: Sendable {
        var id: WorkerID
        /// Which machine it is across reconnects (its key and name): its failures, its blocklists and a drain hold by
        /// this, so a worker whose link drops three times is one worker and stays blocklisted when it reconnects.
        var identity: String
        /// Whose key it speaks with (in plaintext, its name): a tile fails its job only after failing on
        /// `tileFailureLimit` accounts, so one stolen key registered under many names cannot fail a job, while one
        /// key shared by a cluster's machines keeps each machine's blocklist its own (Docs/security.md, "Per-key budgets").
        var account: String
        var name: String
        var threads: Int
        var lastHeard: Double
        /// Tiles it is still computing under leases this coordinator does not know (from before a reconnect).
        var busy: Int
        var leases: Set<LeaseToken> = []
        var tiles = 0
        var computeSeconds = 0.0
        /// The most planned peak memory of a tile it may take (bytes), if it said.
        var memoryLimit: Int?
        /// The BLAS kernel it said it computes with (shown, never used to decide).
        var kernel: String?
        /// The host it said it runs on (shown only).
        var host: String?
        /// Pixel-iterations per second it reported (a start-up measurement), and what its results show.
        var reportedSpeed: Double?
        var measuredSpeed: Double?
        /// When its last result arrived.
        var lastResult: Double?
        /// What placement uses: the measured speed; before the first result, the reported one, never above `cap` (the
        /// fastest speed measured on the farm), so a worker's claim cannot outrank what others have shown.
        func speed(cap: Double?) -> Double? {
            measuredSpeed ?? reportedSpeed.map { reported in cap.map { min(reported, $0) } ?? reported }
        }
    }

    struct JobRecord: Sendable {
        var id: JobID
        var name: String
        var priority: Int
        var seq: Int
        /// Pixel-iterations of each tile of each stage.
        var work: [[Double]]
        /// Planned peak memory (bytes) of each tile of each stage; empty when not planned.
        var memory: [[Int]]
        var stage = 0
        /// The current stage's tiles are known and may be leased.
        var runnable = false
        var done: Set<Int> = []
        var pending: [Int] = []
        /// Per machine (identity): failures and the blocklist; per connection: the tiles each failed.
        var failuresByWorker: [String: Int] = [:]
        var failedOn: [Int: Set<WorkerID>] = [:]
        var blocklist: Set<String> = []
        /// Per tile, the worker identities it failed on (`tileFailureLimit`).
        var tileFailures: [Int: Set<String>] = [:]
        /// No tile is leased while paused (`setPaused`); leases already out run on.
        var paused = false
        /// Per tile of the current stage: how many leases it was given (copies and retries included).
        var attempts: [Int: Int] = [:]
        /// The slowest a tile of the current stage went, seconds per pixel-iteration from lease to result (`lifeCap`).
        var slowestRate = 0.0
    }

    public let config: Config
    /// Lease tokens are `epoch-counter`: unique across coordinator restarts when `epoch` is random.
    let epoch: String
    var counter = 0
    var jobs: [JobID: JobRecord] = [:]
    var workers: [WorkerID: WorkerState] = [:]
    var leases: [LeaseToken: Lease] = [:]
    /// The live leases of each tile (two while a straggler copy runs).
    var tileLeases: [TileID: Set<LeaseToken>] = [:]
    var nextSeq = 0
    /// The fastest measured speed among the live workers (refreshed by `tick`, raised by results): the cap on reported ones.
    var fastestMeasured: Double?
    /// The identities of draining workers (`drain`): they take no new tile, across reconnects, until `undrain`.
    var drained: Set<String> = []

    public init(config: Config = Config(), epoch: String) {
        self.config = config
        self.epoch = epoch
    }

    // MARK: Jobs

    /// Adds a job at `stage` (where the journal says it is; clamped to its stages); it waits until `startStage` makes a
    /// stage runnable. `memory`, when given, is each tile's planned peak memory in bytes (same shape as `work`).
    public mutating func addJob(
        id: JobID, name: String, priority: Int, work: [[Double]], memory: [[Int]] = [], stage: Int = 0
    ) {
        precondition(memory.isEmpty || memory.map(\.count) == work.map(\.count), "memory must match work tile for tile")
        jobs[id] = JobRecord(
            id: id, name: name, priority: priority, seq: nextSeq, work: work, memory: memory,
            stage: min(max(stage, 0), max(work.count - 1, 0)))
        nextSeq += 1
    }

    /// Makes a stage runnable; `done` are its tiles already finished (restored from the journal).
    /// Returns `stageFinished` at once when nothing is left to do.
    public mutating func startStage(job id: JobID, stage: Int, done: Set<Int> = [], now: Double) -> [Event] {
        guard var job = jobs[id], job.work.indices.contains(stage) else { return [] }
        job.stage = stage
        job.done = done
        job.pending = (0 ..< job.work[stage].count).filter { !done.contains($0) }
        job.tileFailures = [:]
        job.failedOn = [:]
        job.attempts = [:]
        job.slowestRate = 0
        job.runnable = true
        jobs[id] = job
        return job.pending.isEmpty ? [.stageFinished(job: id, stage: stage)] : []
    }

    /// Closes a job that ended (done, failed, cancelled: the coordinator's core knows which): none of its tiles is
    /// leased any more, and its leases are revoked so that late results are rejected. `reopen` opens it again.
    public mutating func close(job id: JobID) {
        guard jobs[id] != nil else { return }
        jobs[id]?.runnable = false
        jobs[id]?.pending = []
        for (token, lease) in leases where lease.tile.job == id { revoke(token) }
    }

    /// Forgets a job (an ended one, past its retention).
    public mutating func forget(job id: JobID) {
        close(job: id)
        jobs[id] = nil
    }

    // MARK: Workers

    /// A worker said `ready` (first contact or after a reconnect). `memoryLimit` (bytes) bounds the tiles it gets;
    /// `speed` (pixel-iterations per second) orders workers until its results measure it. `identity` is which
    /// machine the worker is across connections (default: this connection's `id`), `account` whom its failures count
    /// against (default: its identity).
    public mutating func workerReady(
        id: WorkerID, identity: String? = nil, account: String? = nil, name: String, threads: Int, busy: Int,
        memoryLimit: Int? = nil, speed: Double? = nil, kernel: String? = nil, host: String? = nil, now: Double
    ) {
        if workers[id] != nil { _ = lose(worker: id, reason: "re-registered", now: now) }
        workers[id] = WorkerState(
            id: id, identity: identity ?? id.rawValue, account: account ?? identity ?? id.rawValue, name: name,
            threads: threads,
            lastHeard: now, busy: busy,
            memoryLimit: memoryLimit, kernel: kernel, host: host,
            reportedSpeed: speed.flatMap { $0 > 0 && $0.isFinite ? $0 : nil })
    }

    /// Any message from a worker proves it alive. Returns false for an unknown worker (it must say `ready`).
    public mutating func heard(from id: WorkerID, now: Double) -> Bool {
        guard workers[id] != nil else { return false }
        workers[id]!.lastHeard = now
        return true
    }

    /// A worker left (goodbye, or it cannot be reached): its leases are requeued.
    public mutating func remove(worker id: WorkerID, reason: String, now: Double) -> [Event] {
        guard workers[id] != nil else { return [] }
        return lose(worker: id, reason: reason, now: now)
    }

    public var liveWorkers: [WorkerID] { workers.keys.sorted() }
    /// The live workers' ids in no particular order (cheaper than `liveWorkers`, for per-loop work).
    public var liveWorkerIDs: some Collection<WorkerID> { workers.keys }
}
