import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmScheduler
import Imaging
import StyleCore
import Synchronization

/// The coordinator's core with an in-memory shell around it, for tests: a fake clock (`now`, moved by `advance`),
/// an in-memory transport (everything sent lands in `outbox`) and an in-memory journal (`states`, `storedTiles`).
/// Work the real shell runs off the loop is queued here and delivered by `settle()`, in order, so a test can
/// act between an action and its outcome (cancel while a stage prepares, say).
public struct CoreHarness {
    public var core: CoordinatorCore
    public private(set) var now = 0.0
    /// Everything sent, in order (assignments without their crops).
    public private(set) var outbox: [(peer: String, message: Message)] = []
    public private(set) var logs: [String] = []
    public private(set) var metrics: [CoordinatorCore.Metric] = []
    /// What the operator was told (`notify`: jobs ended, workers lost), in order.
    public private(set) var notices: [FarmNotice] = []
    public private(set) var snapshots: [FarmSnapshot] = []
    /// The in-memory journal: each job's recorded state, and its stored tiles.
    public private(set) var states: [JobID: JobState] = [:]
    public private(set) var storedTiles: [FarmScheduler.TileID] = []
    /// Outcomes of work in flight, delivered by `settle`.
    public private(set) var pending: [CoordinatorCore.Event] = []
    /// Tiles the journal already holds per job and stage, reported when that stage is prepared (a restart).
    public var journalTiles: [JobID: [Int: Set<Int>]] = [:]
    /// Make the next tile stores fail (a full disk).
    public var failStores = false
    /// The disk is full for preparations: a stage's preparation is kept (`storageFull`, as the shell does) until
    /// `retryStorage` runs it again.
    public var diskFull = false
    var deferredPrepares: [(job: JobID, stage: Int)] = []
    /// Who each peer is (its key and role); a peer not listed is `Caller.insecure` (an admin, as in plaintext).
    public var callers: [String: Caller] = [:]
    /// Each job's hand-set priority and pause as the journal would hold them.
    public private(set) var controls: [JobID: (priority: Int, paused: Bool)] = [:]
    /// Jobs pruned (retention), in order.
    public private(set) var pruned: [JobID] = []
    var jobCount = 0

    public init(config: CoordinatorCore.Config = .init(weightsSHA: "W", weightsBytes: 3)) {
        core = CoordinatorCore(config: config, epoch: "e")
    }

    /// Feeds one event and performs what it returns.
    public mutating func handle(_ event: CoordinatorCore.Event) {
        perform(core.handle(event))
    }

    /// Moves the fake clock and ticks.
    public mutating func advance(to t: Double) {
        now = t
        handle(.tick(now: t))
    }

    /// Delivers the outcomes of work in flight until none is left.
    public mutating func settle() {
        while !pending.isEmpty { handle(pending.removeFirst()) }
    }

    /// A message from `peer`, now, authenticated as `callers[peer]`.
    public mutating func receive(_ m: Message, from peer: String) {
        handle(.message(peer: peer, m, caller: callers[peer] ?? .insecure, now: now))
    }

    /// What `peer` was sent with `command`, decoded, in order.
    public func sent<T: Decodable>(to peer: String, _ command: Command, as type: T.Type) -> [T] {
        outbox.filter { $0.peer == peer && $0.message.command == command }.compactMap { try? $0.message.decode(T.self) }
    }

    /// Commands sent to `peer`, in order.
    public func commands(to peer: String) -> [Command] { outbox.filter { $0.peer == peer }.map(\.message.command) }

    public mutating func clearOutbox() { outbox = [] }

    mutating func perform(_ actions: [CoordinatorCore.Action]) {
        for action in actions {
            switch action {
            case let .send(peer, m): outbox.append((peer, m))
            case let .assign(peer, body, _): outbox.append((peer, Message(.assign, body)))
            case let .admit(spec, _, replyTo, owner, submitted):
                admit(spec, replyTo: replyTo, owner: owner, submitted: submitted)
            case let .prepare(job, stage): prepare(job, stage: stage)
            case let .storeTile(job, stage, tile, _, _, _):
                if failStores {
                    pending.append(
                        .workFailed(job: job, reason: "cannot write the journal: no space left on device", now: now))
                } else {
                    storedTiles.append(.init(job: job, stage: stage, tile: tile))
                    pending.append(.tileStored(job: job, stage: stage, tile: tile, now: now))
                }
            case let .blend(job, stage, last):
                pending.append(
                    .blended(
                        job: job, stage: stage,
                        next: last ? nil : .init(targets: "T-\(job)", reference: "R\(stage + 1)"),
                        now: now))
            case let .write(job):
                states[job] = .done
                pending.append(.written(job: job, now: now))
            case let .persistState(job, state, _, _): states[job] = state
            case let .persistControl(job, priority, paused): controls[job] = (priority, paused)
            case let .answer(reply, outcome): reply.deliver(outcome)
            case let .sendBlob(peer, body): outbox.append((peer, Message(.blob, body)))
            case let .sendOutput(peer, job, _, offset, budget):
                // An output of 10 MB, sent chunk by chunk like the shell's (the bytes themselves are not made here).
                outbox.append(
                    (peer, Message(.output, OutputBody(job: job, file: "output.png", offset: offset, size: 10_000_000)))
                )
                pending.append(.outputSent(budget: budget))
            case .forget: break
            case let .prune(job): pruned.append(job)
            case let .publish(snapshot): snapshots.append(snapshot)
            case let .count(metric): metrics.append(metric)
            case let .log(_, text, metadata):
                logs.append(text + " " + metadata.map { "\($0)=\($1)" }.sorted().joined(separator: " "))
            case let .notify(notice): notices.append(notice)
            }
        }
    }

    /// The shell's admission: the journal names the job (`j1`, `j2`, …) and the core hears it was admitted.
    mutating func admit(_ spec: JobSpec, replyTo: String, owner: String, submitted: Double) {
        jobCount += 1
        var info = CoordinatorCore.StoredJobInfo(
            id: JobID("j\(jobCount)"), spec: spec, state: .queued, detail: nil, stage: 0, memory: [])
        (info.owner, info.submitted) = (owner, submitted)
        info.ownerName = callers.values.first { $0.key == owner }?.name ?? Caller.insecure.name
        states[info.id] = .queued
        pending.append(.admitted(info, replyTo: replyTo, now: now))
    }

    /// The shell's preparation of a stage, or, on a full disk, the preparation held back until it is retried.
    mutating func prepare(_ job: JobID, stage: Int) {
        if diskFull {
            deferredPrepares.append((job, stage))
            pending.append(.storageFull(reason: "no space left on device", now: now))
            return
        }
        // a write succeeded: space is back
        if core.storagePaused { pending.append(.storageRecovered(now: now)) }
        pending.append(
            .prepared(
                job: job, stage: stage, targets: "T-\(job)", reference: nil,
                done: journalTiles[job]?[stage] ?? [], now: now))
    }

    /// The shell's retry of what a full disk could not take: the preparations it kept run again.
    public mutating func retryStorage() {
        let work = deferredPrepares
        deferredPrepares = []
        perform(work.map { .prepare(job: $0.job, stage: $0.stage) })
    }

    // MARK: Controls

    /// A control pressed on the dashboard by `caller`; its outcome.
    public mutating func dashboardControl(_ body: ControlBody, as caller: Caller) -> Result<
        ControlledBody, ControlRefusal
    >? {
        let box = OutcomeBox()
        handle(.control(body, caller: caller, reply: .init { box.set($0) }, now: now))
        return box.value
    }

    /// A `control` message from `peer`; the `controlled` answer, or the refusal's `error`.
    public mutating func control(_ body: ControlBody, from peer: String) -> Result<ControlledBody, ControlRefusal> {
        receive(Message(.control, body), from: peer)
        let last = outbox.last { $0.peer == peer }?.message
        if last?.command == .controlled, let done = try? last?.decode(ControlledBody.self) { return .success(done) }
        let error = try? last?.decode(ErrorBody.self)
        return .failure(
            ControlRefusal(
                ControlRefusal.Code(rawValue: error?.code.rawValue ?? "") ?? .invalid, error?.message ?? "no answer"))
    }

    // MARK: Peers

    /// A worker says `ready`.
    public mutating func ready(_ worker: String, memoryLimit: Int? = nil, speed: Double? = nil, busy: [LeaseToken] = [])
    {
        receive(
            Message(
                .ready,
                ReadyBody(
                    name: worker, threads: 1, versions: FarmProtocol.versions, busy: busy,
                    memoryLimit: memoryLimit, speed: speed)), from: worker)
    }

    /// Submits `spec` as `client` and lets the job be stored and prepared.
    @discardableResult
    public mutating func submit(_ spec: JobSpec, from client: String = "client") -> JobID? {
        receive(
            Message(.submit, SubmitBody(spec: spec), payload: Array(repeating: [0], count: spec.inputCount)),
            from: client)
        settle()
        return sent(to: client, .submitted, as: SubmittedBody.self).last?.job
    }

    /// The leases assigned to `worker` so far, in order.
    public func leases(of worker: String) -> [AssignBody] { sent(to: worker, .assign, as: AssignBody.self) }

    /// `worker` returns the tile of `lease` (pixels of the tile's core size, all zero; or `bytes` of them).
    public mutating func result(_ lease: AssignBody, from worker: String, seconds: Double = 1, bytes: Int? = nil) {
        let core = lease.task.tile.core
        receive(
            Message(
                .result, ResultBody(lease: lease.lease, seconds: seconds, loss: 1),
                payload: [[UInt8](repeating: 0, count: bytes ?? 12 * core.width * core.height)]), from: worker)
    }

    /// A small job: 96x64 in two levels (a coarse tile, then two passes of 48-px tiles).
    public static func smallSpec(name: String = "small", priority: Int = 50) -> JobSpec {
        var poster = PosterSettings(width: 96, height: 64)
        (poster.coarseSize, poster.tileSize, poster.overlap, poster.margin, poster.iterations) = (48, 48, 8, 4, [2, 1])
        return JobSpec(name: name, priority: priority, poster: poster, styleWeights: [1], crop: false)
    }
}

/// A control's outcome, handed back from the core's reply.
final class OutcomeBox: Sendable {
    private let outcome = Mutex<Result<ControlledBody, ControlRefusal>?>(nil)
    var value: Result<ControlledBody, ControlRefusal>? { outcome.withLock { $0 } }
    func set(_ v: Result<ControlledBody, ControlRefusal>) { outcome.withLock { $0 = v } }
}
