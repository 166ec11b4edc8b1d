import FarmMonitor
import FarmProtocol
import FarmScheduler
import Imaging
import Logging
import StyleCore
import Tiling

/// The coordinator as a pure state machine (Flamenco's manager; swift-nio's state machines): one value owns
/// every job's lifecycle and, through `FarmScheduler`, the workers, leases and tiles. It takes events (an
/// authenticated message, a tick of the clock, work the shell finished off the loop) and returns actions (send,
/// persist, run this off the loop, publish). No I/O, no clock, no randomness: CoordinatorCoreTests drive it
/// transition by transition.
///
/// A job's life (`Phase`): admitted → preparing a stage (images decoded, targets and the stage's start computed
/// off the loop) → running (its tiles leased) → blending (every tile stored; blended into the stage's canvas off
/// the loop, the next stage prepared in the same work) → … → writing the output → done. It fails when work
/// fails or a tile fails on too many workers, and is cancelled on request; late work for a job that has ended
/// is dropped.
public struct CoordinatorCore: Sendable {
    public struct Config: Sendable {
        public var scheduler = FarmScheduler.Config()
        /// The weights every worker renders with: their SHA-256 (fetched by it) and size.
        public var weightsSHA: String
        public var weightsBytes: Int
        /// How often the dashboard's snapshot is refreshed.
        public var snapshotInterval = 0.5
        /// How often lapsed leases, silent workers, heartbeats and time-based placement (straggler copies) are
        /// checked. Tiles are also placed at once whenever something frees credit or adds tiles; a pass over a
        /// thousand workers after every batch of heartbeats would cost more CPU than the tiles.
        public var housekeepingInterval = 0.1
        /// The shortest time between two placement passes. A pass at a stage's end plans its last tiles over every
        /// worker (O(tiles × workers)); one after every single result would spend more CPU than the tiles, while
        /// results that arrive within this interval share one pass.
        public var placementInterval = 0.02
        /// A peer that is not a live worker and has not been heard from for this long is forgotten (its key binding
        /// and send times): clients connect afresh for every command, so without it the table grows with use.
        public var peerIdleSeconds = 600.0
        /// The most peers remembered at once; a new one past it is answered `busy` and not remembered.
        public var maxPeers = 10_000
        /// Budgets (`KeyBudget`): per worker connection, the weights (tens of MB, queued whole in the peer's send queue)
        /// at most once in this many seconds, and at most `fetchesPerMinute` blob fetches; per client key (whatever its
        /// connections), at most `outputChunksPerMinute` output chunks, one at a time. A worker fetches the weights once
        /// and each job's targets once; a peer that asks again and again without reading would fill the coordinator's
        /// memory.
        public var weightsRefetchSeconds = 30.0
        public var fetchesPerMinute = 120
        /// Output chunks (`OutputBody.chunk`, 4 MiB) a key may fetch in a minute: 60 MiB/s, one chunk at a time.
        public var outputChunksPerMinute = 900
        /// How long an ended job (done, failed, cancelled) is kept, with its files, after it ended; nil keeps every
        /// job. Seven days: long enough to fetch an output after a weekend.
        public var retention: Double? = 7 * 86_400
        /// Unix seconds at `now` = 0: the shell's wall clock, for the times a job shows (submitted, started, ended).
        public var wallClockOffset = 0.0
        public init(weightsSHA: String, weightsBytes: Int) {
            self.weightsSHA = weightsSHA
            self.weightsBytes = weightsBytes
        }
    }

    public enum Phase: Equatable, Sendable {
        case preparing(stage: Int)
        case running(stage: Int)
        case blending(stage: Int)
        case writing
        case done
        case failed(String)
        case cancelled

        public var isFinal: Bool {
            switch self {
            case .done, .failed, .cancelled: true
            case .preparing, .running, .blending, .writing: false
            }
        }
    }

    /// Everything the core knows of a job: its description, its plan and where it is.
    public struct Job: Sendable {
        public var id: JobID
        /// The key of the client that submitted it ("" in plaintext, or for a job journaled before owners were).
        public var owner: String
        /// The name the allowlist gives that key ("insecure" in plaintext; "" when not known).
        public var ownerName = ""
        public var spec: JobSpec
        public var stages: [PosterStage]
        public var phase: Phase
        /// SHA-256 of its Gram targets and of the current stage's reference Grams, once prepared.
        public var targets: String?
        public var reference: String?
        /// Accepted tiles of the current stage whose pixels are being written to the journal.
        public var storing: Set<Int> = []
        /// Every tile of the current stage is accepted: it blends once `storing` is empty.
        public var stageComplete = false
        /// The latest progress of each of its live leases (for the dashboard).
        public var progress: [LeaseToken: ProgressBody] = [:]
        /// When its current stage became runnable (core seconds; since this start of the coordinator): the metrics'
        /// stage age.
        public var stageStarted: Double?
        /// When it ended (done, failed, cancelled; or was found ended at start): retention counts from here.
        public var ended: Double?
        /// Unix seconds: when it was submitted, first ran, and ended.
        public var submitted: Double?
        public var started: Double?
        public var finished: Double?
        /// Per stage, per tile: leases, who finished it, seconds, loss and loss curve (for the dashboard).
        public var records: [Int: [Int: TileRecord]] = [:]
        /// The farm's log of this job, oldest first, at most `JobDetail.maxEvents`.
        public var events: [JobEvent] = []

        /// Enters a final phase, stamped for retention.
        mutating func end(_ final: Phase, now: Double, wall: Double) {
            (phase, ended) = (final, now)
            finished = finished ?? wall
        }

        /// A tile's record (an empty one until it is first leased).
        subscript(stage: Int, tile: Int) -> TileRecord {
            get { records[stage]?[tile] ?? TileRecord() }
            set { records[stage, default: [:]][tile] = newValue }
        }

        mutating func change(stage: Int, tile: Int, _ body: (inout TileRecord) -> Void) {
            body(&self[stage, tile])
        }

        mutating func log(_ event: JobEvent) {
            if events.count >= JobDetail.maxEvents { events.removeFirst(events.count - JobDetail.maxEvents + 1) }
            events.append(event)
        }
    }

    /// A peer the core has heard from: the key its routing id is bound to, and when it last spoke.
    public struct PeerEntry: Sendable {
        public var caller: Caller
        public var lastHeard: Double
        public init(caller: Caller, lastHeard: Double) { (self.caller, self.lastHeard) = (caller, lastHeard) }
    }

    /// What one key may still cost the farm (Docs/security.md, "Per-key budgets"), whatever connections it uses: its
    /// fetches (the last of the weights, and how many in the minute that began at `fetchWindow`) and whether an output
    /// chunk is on its way to it (one at a time).
    struct KeyBudget: Sendable {
        var lastWeightsFetch: Double?
        var fetchWindow = -Double.infinity
        var fetches = 0
        var outputInFlight = false
    }

    /// What the shell learned off the loop and reports back.
    public enum Event: Sendable {
        /// A message from a peer, authenticated as `caller` (its key, name and role).
        case message(peer: String, Message, caller: Caller, now: Double)
        /// Frames from a peer that are not a valid message.
        case malformed(peer: String, ProtocolError, now: Double)
        case tick(now: Double)
        /// A peer could not be sent to (gone, or its queue is full).
        case unreachable(peer: String, now: Double)
        /// An output chunk for `budget` (`budgetKey`) was read and queued, or could not be: its next may be asked for.
        case outputSent(budget: String)
        /// A job was stored in the journal (new, answering `replyTo`; or restored at start when nil).
        case admitted(StoredJobInfo, replyTo: String?, now: Double)
        /// Submitting failed before the job was stored.
        case admissionFailed(replyTo: String, reason: String)
        /// A stage is ready to lease: `done` are its tiles already in the journal (after a restart).
        case prepared(job: JobID, stage: Int, targets: String, reference: String?, done: Set<Int>, now: Double)
        case tileStored(job: JobID, stage: Int, tile: Int, now: Double)
        /// The stage was blended into its canvas; the next one is prepared (`next`), or it was the last.
        case blended(job: JobID, stage: Int, next: Prepared?, now: Double)
        case written(job: JobID, now: Double)
        /// Work for a job failed (decoding, preparing, storing, blending, writing).
        case workFailed(job: JobID, reason: String, now: Double)
        /// The state directory's disk is full: what could not be written waits in the shell, which retries it.
        case storageFull(reason: String, now: Double)
        /// A retry wrote what waited: space is back.
        case storageRecovered(now: Double)
        /// A control from the dashboard (`ControlBody`), by `caller`; the outcome goes to `reply`.
        case control(ControlBody, caller: Caller, reply: ControlReply, now: Double)
    }

    /// Where a control's outcome goes (the dashboard's request waits on it).
    public struct ControlReply: Sendable {
        public let deliver: @Sendable (Result<ControlledBody, ControlRefusal>) -> Void
        public init(_ deliver: @escaping @Sendable (Result<ControlledBody, ControlRefusal>) -> Void) {
            self.deliver = deliver
        }
    }

    /// A prepared stage's blobs.
    public struct Prepared: Sendable, Equatable {
        public var targets: String
        public var reference: String?
        public init(targets: String, reference: String?) { (self.targets, self.reference) = (targets, reference) }
    }

    /// What the journal holds about a job, as the core needs it.
    public struct StoredJobInfo: Sendable {
        public var id: JobID
        /// The submitting client's key, and the name the allowlist gives it.
        public var owner = ""
        public var ownerName = ""
        public var spec: JobSpec
        public var state: JobState
        public var detail: String?
        /// The first stage not yet finished.
        public var stage: Int
        /// Planned peak memory of each tile of each stage, in bytes (computed with the network by the shell).
        public var memory: [[Int]]
        /// The spec's stages, planned once (`JobSpec.stages`, unless given).
        public var stages: [PosterStage]
        /// Why a stored job cannot run (its spec is outside `JobSpec.Limits`): it is admitted failed, with this reason.
        public var problem: String?
        /// Paused by hand, and the priority it was given by hand (nil: the spec's).
        public var paused = false
        public var priority: Int?
        /// Unix seconds: submitted, first ran, ended (nil when not known).
        public var submitted: Double?
        public var started: Double?
        public var finished: Double?
        public init(
            id: JobID, spec: JobSpec, state: JobState, detail: String?, stage: Int, memory: [[Int]],
            stages: [PosterStage]? = nil
        ) {
            (self.id, self.spec, self.state, self.detail, self.stage, self.memory) = (
                id, spec, state, detail, stage, memory
            )
            self.stages = stages ?? spec.stages
        }

        /// A stored job whose spec is outside the limits: nothing of it is planned.
        public init(id: JobID, spec: JobSpec, state: JobState, detail: String?, problem: String) {
            (self.id, self.spec, self.state, self.detail, self.stage, self.memory, self.stages) = (
                id, spec, state, detail, 0, [], []
            )
            self.problem = problem
        }
    }

    /// Counters for the monitor.
    public enum Metric: Sendable, Equatable {
        case tileDone(seconds: Double), tileFailed, tileRequeued, copyRevoked, messageDropped
        /// A lease ended without a result, and why (its tile is requeued: `tileRequeued` comes with it).
        case leaseFailed(FarmScheduler.LeaseFailure)
    }

    public enum Action: Sendable {
        case send(peer: String, Message)
        /// Crop the tile's render rectangle from the job's level content and start canvas (and temporal target) and
        /// send the assignment with them.
        case assign(peer: String, AssignBody, rect: PixelRect)
        /// Store a submitted job (owned by the key `owner`, submitted at `submitted`, Unix seconds on the core's clock)
        /// and its images in the journal, plan it, and report `admitted` (a new id).
        case admit(spec: JobSpec, inputs: [[UInt8]], replyTo: String, owner: String, submitted: Double)
        /// Decode the job's images, compute its targets, prepare `stage` and report `prepared`.
        case prepare(job: JobID, stage: Int)
        /// Write an accepted tile's pixels to the journal (and the preview), then report `tileStored`.
        case storeTile(job: JobID, stage: Int, tile: Int, pixels: PlanarImage, worker: WorkerID, seconds: Double)
        /// Blend the finished stage into its canvas; prepare the next (or not, for the last), report `blended`.
        case blend(job: JobID, stage: Int, last: Bool)
        /// Write the output and record the job done, then report `written`.
        case write(job: JobID)
        /// Record a job's state and detail (as `status` derives them from its phase) in the journal, at `at` (Unix seconds
        /// on the core's clock, `wall`): the first `running` stamps when it started, an end when it finished.
        case persistState(job: JobID, JobState, detail: String?, at: Double)
        /// Record a job's hand-set priority and pause in the journal (a restart keeps them).
        case persistControl(job: JobID, priority: Int, paused: Bool)
        /// Answer a dashboard's control.
        case answer(ControlReply, Result<ControlledBody, ControlRefusal>)
        /// Send a weights or targets blob (the shell holds the bytes).
        case sendBlob(peer: String, FetchBody)
        /// Send a finished job's output file.
        /// Read `OutputBody.chunk` bytes of a job's output from `offset`, send them, then report `outputSent(budget:)`.
        case sendOutput(peer: String, job: JobID, format: String, offset: Int, budget: String)
        /// Targets that are no longer needed (a stage's reference Grams; an ended job's targets and assets).
        case forget(job: JobID, blobs: [String])
        /// An ended job past its retention: delete its journal rows and files.
        case prune(job: JobID)
        case publish(FarmSnapshot)
        case count(Metric)
        case log(Logger.Level, String, Logger.Metadata)
        /// Tell the operator (`FarmNotice`: a job ended, a worker was lost) through the configured webhooks.
        case notify(FarmNotice)
    }

    public let config: Config
    public internal(set) var scheduler: FarmScheduler
    public internal(set) var jobs: [JobID: Job] = [:]
    /// Target blobs that workers may fetch.
    public internal(set) var blobs: Set<String> = []
    var lastSent: [String: Double] = [:]
    /// Every peer heard from recently, bound to the key it spoke with (`bind`).
    public internal(set) var peers: [String: PeerEntry] = [:]
    /// Per key (per connection in plaintext, where there is no key): `KeyBudget`.
    var budgets: [String: KeyBudget] = [:]
    var lastSnapshot = -Double.infinity
    var lastHousekeeping = -Double.infinity
    var lastPlacement = -Double.infinity
    /// Something happened that may let a tile be placed (credit freed, a worker or a stage added).
    var placementDue = true
    /// The disk is full (`storageFull`): no tile is leased until space is back, so what waits to be written (the
    /// results of the leases already out) stays bounded; every other transition goes on.
    public internal(set) var storagePaused = false

    /// `epoch` makes lease tokens unique across restarts (the shell passes a random one).
    public init(config: Config, epoch: String) {
        self.config = config
        scheduler = FarmScheduler(config: config.scheduler, epoch: epoch)
    }

    public func phase(of job: JobID) -> Phase? { jobs[job]?.phase }

    // MARK: Events

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .tick: break
        case let .message(_, m, _, _): placementDue = placementDue || Self.mayFreeCredit.contains(m.command)
        default: placementDue = true
        }
        switch event {
        case let .message(peer, m, caller, now): return receive(m, from: peer, caller: caller, now: now)
        case let .malformed(peer, error, now):
            return [.count(.messageDropped), .log(.warning, "bad message: \(error)", ["peer": "\(peer)"])]
                + send(
                    peer,
                    Message(
                        .error, ErrorBody(code: error.code, message: error.description, versions: FarmProtocol.versions)
                    ), now: now)
        case let .tick(now): return tick(now: now)
        case let .outputSent(key):
            budgets[key]?.outputInFlight = false
            return []
        case let .unreachable(peer, now):
            lastSent[peer] = nil
            guard scheduler.liveWorkerIDs.contains(WorkerID(peer)) else { return [] }
            return schedule(scheduler.remove(worker: WorkerID(peer), reason: "unreachable", now: now), now: now)
        case let .admitted(info, replyTo, now): return admitted(info, replyTo: replyTo, now: now)
        case let .admissionFailed(peer, reason):
            return [
                .count(.messageDropped), .log(.warning, "submit refused: \(reason)", ["peer": "\(peer)"]),
                .send(peer: peer, Message(.error, ErrorBody(code: .malformed, message: reason)))
            ]
        case let .prepared(job, stage, targets, reference, done, now):
            return prepared(
                job, stage: stage, blobs: Prepared(targets: targets, reference: reference), done: done, now: now)
        case let .tileStored(job, stage, tile, now): return tileStored(job, stage: stage, tile: tile, now: now)
        case let .blended(job, stage, next, now): return blended(job, stage: stage, next: next, now: now)
        case let .written(id, now):
            guard jobs[id]?.phase == .writing else { return [] }
            let wallTime = wall(now)
            jobs[id]?.end(.done, now: now, wall: wallTime)
            jobs[id]?.log(JobEvent(time: wallTime, kind: "state", message: "done"))
            scheduler.close(job: id)
            return [.log(.info, "done", ["job": "\(id)"]), .forget(job: id, blobs: jobBlobs(id))]
                + jobEndNotice(id, now: now)
        case let .workFailed(id, reason, now): return fail(id, reason: reason, now: now)
        case let .storageFull(reason, _):
            guard !storagePaused else { return [] }
            storagePaused = true
            return [.log(.error, "storage full, no new tiles leased until space is back: \(reason)", [:])]
        case let .control(body, caller, reply, now):
            let (outcome, actions) = control(body, caller: caller, now: now)
            return actions + [.answer(reply, outcome)]
        case .storageRecovered:
            guard storagePaused else { return [] }
            storagePaused = false
            return [.log(.notice, "storage writable again; leasing resumes", [:])]
        }
    }
}
