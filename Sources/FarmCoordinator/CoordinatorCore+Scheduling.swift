import FarmMonitor
import FarmProtocol
import FarmScheduler
import Imaging
import Logging
import StyleCore
import Tiling

/// The core's side of scheduling: the periodic tick, sending, and turning the scheduler's decisions into actions
/// (leases as `assign` messages, requeues, the farm log).
extension CoordinatorCore {
    /// Commands after which a tile may be placed.
    static let mayFreeCredit: Set<Command> = [.ready, .result, .failed, .goodbye, .cancel]

    mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        let housekeeping = now - lastHousekeeping >= config.housekeepingInterval
        if housekeeping {
            lastHousekeeping = now
            forgetIdlePeers(now: now)
            actions = schedule(scheduler.tick(now: now), now: now) + pruneEndedJobs(now: now)
        }
        if !storagePaused, housekeeping || (placementDue && now - lastPlacement >= config.placementInterval) {
            (placementDue, lastPlacement) = (false, now)
            actions += schedule(scheduler.assignments(now: now), now: now)
        }
        if housekeeping {
            for worker in scheduler.liveWorkerIDs
            where now - (lastSent[worker.rawValue] ?? 0) >= config.scheduler.heartbeat {
                actions += send(worker, Message(.heartbeat), now: now)
            }
        }
        if now - lastSnapshot >= config.snapshotInterval {
            lastSnapshot = now
            actions.append(.publish(snapshot(now: now)))
        }
        return actions
    }

    /// Sends `m` to `peer`; heartbeats are due `heartbeat` seconds after the last thing sent.
    mutating func send(_ peer: String, _ m: Message, now: Double) -> [Action] {
        lastSent[peer] = now
        return [.send(peer: peer, m)]
    }

    /// Sends `m` to a worker: its id is the printable name of its connection's routing id.
    mutating func send(_ worker: WorkerID, _ m: Message, now: Double) -> [Action] {
        send(worker.rawValue, m, now: now)
    }

    /// Turns the scheduler's decisions into actions.
    mutating func schedule(_ events: [FarmScheduler.Event], now: Double) -> [Action] {
        var actions: [Action] = []
        for (i, e) in events.enumerated() {
            switch e {
            case let .assign(worker, tile, lease):
                record(tile) { $0.attempts += 1 }
                note(tile, "leased", worker: worker, "leased to \(workerName(worker)) (lease \(lease))", now: now)
                actions += assign(worker: worker, tile: tile, lease: lease, now: now)
            case let .stageFinished(job, stage):
                jobs[job]?.stageComplete = true
                actions += blendIfStored(job, stage: stage)
            case let .jobFailed(job, reason):
                actions += fail(job, reason: reason, now: now)
            case let .workerLost(worker, name, host, reason):
                lastSent[worker.rawValue] = nil
                actions.append(.log(.warning, "worker lost: \(reason)", ["worker": "\(worker)"]))
                // Its leases' requeues follow it, up to the next worker lost.
                let after = events[(i + 1)...]
                let requeued = after.prefix { if case .workerLost = $0 { false } else { true } }.compactMap {
                    next -> FarmScheduler.TileID? in
                    if case let .requeued(tile, holder, _, _, _) = next, holder == worker { tile } else { nil }
                }
                actions.append(
                    workerLostNotice(worker, name: name, host: host, reason: reason, requeued: requeued, now: now))
            case let .requeued(tile, worker, lease, reason, cause):
                note(tile, "requeued", worker: worker, "requeued from \(workerName(worker)): \(reason)", now: now)
                actions += [
                    .count(.tileRequeued), .count(.leaseFailed(cause)),
                    .log(.warning, "tile requeued (lease \(lease)): \(reason)", Self.metadata(tile, worker))
                ]
                actions += send(worker, Message(.reject, RejectBody(lease: lease, reason: reason)), now: now)
            case let .workerBlocklisted(worker, job):
                let event = JobEvent(
                    time: wall(now), kind: "blocklisted", worker: worker.rawValue,
                    message: "\(workerName(worker)) blocklisted after \(config.scheduler.workerFailureLimit) failures")
                jobs[job]?.log(event)
                actions.append(
                    .log(.warning, "worker blocklisted for this job", ["job": "\(job)", "worker": "\(worker)"]))
            case let .revoked(worker, tile, lease):
                note(
                    tile, "copy-won", worker: worker,
                    "another copy won; \(workerName(worker))'s lease \(lease) revoked", now: now)
                actions += [
                    .count(.copyRevoked),
                    .log(.info, "another copy won; lease \(lease) revoked", Self.metadata(tile, worker))
                ]
                actions += send(
                    worker, Message(.reject, RejectBody(lease: lease, reason: "another copy of tile \(tile) won")),
                    now: now)
            }
        }
        return actions
    }

    /// Adds to a job's farm log.
    mutating func note(_ tile: FarmScheduler.TileID, _ kind: String, worker: WorkerID?, _ message: String, now: Double)
    {
        let wallTime = wall(now)
        jobs[tile.job]?.log(
            JobEvent(
                time: wallTime, kind: kind, stage: tile.stage, tile: tile.tile, worker: worker?.rawValue,
                message: message))
    }

    /// Changes a tile's record (nothing for an unknown job), in place.
    mutating func record(_ tile: FarmScheduler.TileID, _ change: (inout TileRecord) -> Void) {
        jobs[tile.job]?.change(stage: tile.stage, tile: tile.tile, change)
    }

    /// A worker as people know it: its name (and id, which names do not make unique).
    func workerName(_ id: WorkerID) -> String {
        scheduler.name(ofWorker: id).map { "\($0) (\(id))" } ?? id.rawValue
    }

    static func metadata(_ tile: FarmScheduler.TileID, _ worker: WorkerID) -> Logger.Metadata {
        ["job": "\(tile.job)", "stage": "\(tile.stage)", "tile": "\(tile.tile)", "worker": "\(worker)"]
    }

    mutating func assign(worker: WorkerID, tile id: FarmScheduler.TileID, lease: LeaseToken, now: Double) -> [Action] {
        guard let job = jobs[id.job], case .running = job.phase, let targets = job.targets else { return [] }
        let stage = job.stages[id.stage], tile = stage.plan.tiles[id.tile]
        let body = AssignBody(
            lease: lease, job: id.job, stage: id.stage, task: stage.task(tile), options: job.spec.poster.options,
            pooling: job.spec.poster.pooling, targets: targets, reference: job.reference,
            leaseSeconds: config.scheduler.leaseSeconds)
        lastSent[worker.rawValue] = now
        return [.assign(peer: worker.rawValue, body, rect: tile.render)]
    }
}
