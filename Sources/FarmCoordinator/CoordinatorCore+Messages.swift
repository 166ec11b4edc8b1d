import FarmProtocol
import FarmScheduler
import Imaging
import Logging

/// Every command a peer may send (Docs/protocol.md, "Messages"), one function each.
extension CoordinatorCore {
    mutating func receive(_ m: Message, from peer: String, now: Double) -> [Action] {
        do {
            return try dispatch(m, from: peer, now: now)
        } catch let e as ProtocolError {
            return [.count(.messageDropped), .log(.warning, "bad \(m.command): \(e)", ["peer": "\(peer)"])]
                + send(peer, Message(.error, ErrorBody(code: e.code, message: e.description)), now: now)
        } catch {
            return [.log(.error, "\(m.command) failed: \(error)", ["peer": "\(peer)"])]
                + send(peer, Message(.error, ErrorBody(code: "state", message: "\(error)")), now: now)
        }
    }

    /// The command table.
    mutating func dispatch(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        switch m.command {
        case .ready: return try ready(m, from: peer, now: t)
        case .heartbeat:
            guard scheduler.heard(from: peer, now: t) else {
                return send(peer, Message(.error, ErrorBody(code: "unknown-worker", message: "say ready first")), now: t)
            }
            return []
        case .goodbye: return schedule(scheduler.remove(worker: peer, reason: "said goodbye", now: t), now: t)
        case .fetch:
            // Blobs (the weights, a job's targets) go to registered workers only: an unregistered peer gets
            // nothing but the answer to say `ready` first, counted as a refusal.
            guard scheduler.heard(from: peer, now: t) else {
                return [.count(.messageDropped)]
                    + send(peer, Message(.error, ErrorBody(code: "unknown-worker", message: "say ready first")), now: t)
            }
            return try fetch(m, from: peer, now: t)
        case .progress: return try progress(m, from: peer, now: t)
        case .result:
            _ = scheduler.heard(from: peer, now: t)
            return try result(m, from: peer, now: t)
        case .failed: return try failed(m, from: peer, now: t)
        case .submit: return try submit(m, from: peer)
        case .status:
            let body = try m.decode(StatusBody.self)
            let all = jobStatuses(now: t)
            let jobs = body.job.map { j in all.filter { $0.id == j } } ?? all
            if let j = body.job, jobs.isEmpty { throw ProtocolError.malformedBody("no job \(j)") }
            return send(peer, StatusReplyBody(jobs: jobs, workers: scheduler.workerStatuses(now: t)).message, now: t)
        case .cancel: return try cancel(m, from: peer, now: t)
        case .fetchOutput:
            let body = try m.decode(StatusBody.self)
            guard let j = body.job, let job = jobs[j], job.phase == .done else {
                throw ProtocolError.malformedBody("job \(body.job ?? "?") has no output (not done)")
            }
            return [.sendOutput(peer: peer, job: j, format: job.spec.format)]
        case .welcome, .assign, .blob, .reject, .error, .submitted, .statusReply, .output:
            throw ProtocolError.malformedBody("\(m.command) is not sent to a coordinator")
        }
    }

    mutating func ready(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        let body = try m.decode(ReadyBody.self)
        guard body.versions.contains(FarmProtocol.version) else { throw ProtocolError.unsupportedVersion(body.versions.max() ?? 0) }
        scheduler.workerReady(id: peer, name: body.name, threads: body.threads, busy: body.busy.count,
                              memoryLimit: body.memoryLimit, speed: body.speed, now: t)
        let about = "\(body.name), \(body.threads) threads" + (body.memoryLimit.map { ", \($0 >> 20) MiB" } ?? "")
            + (body.speed.map { ", \(Int($0)) px·it/s" } ?? "")
        return [.log(.info, "worker joined (\(about))", ["worker": "\(peer)"])]
            + send(peer, Message(.welcome, WelcomeBody(worker: peer, heartbeatSeconds: config.scheduler.heartbeat,
                                                      liveness: config.scheduler.liveness, weights: config.weightsSHA,
                                                      weightsBytes: config.weightsBytes)), now: t)
    }

    mutating func fetch(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        _ = scheduler.heard(from: peer, now: t)
        let body = try m.decode(FetchBody.self)
        if (body.kind == "weights" && body.sha256 == config.weightsSHA) || (body.kind == "targets" && blobs.contains(body.sha256)) {
            lastSent[peer] = t
            return [.sendBlob(peer: peer, body)]
        }
        return send(peer, Message(.reject, RejectBody(lease: nil, reason: "no \(body.kind) with sha256 \(body.sha256)")), now: t)
    }

    mutating func progress(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        guard scheduler.heard(from: peer, now: t) else { return [] }
        let body = try m.decode(ProgressBody.self)
        switch scheduler.progress(lease: body.lease, worker: peer, now: t) {
        case let .rejected(why):
            return send(peer, Message(.reject, RejectBody(lease: body.lease, reason: why)), now: t)
        case let .accepted(tile):
            jobs[tile.job]?.progress[body.lease] = body
            return []
        }
    }

    /// A finished tile: accepted under a live lease held by this peer, with pixels of the tile's core size, all
    /// finite. The first valid result of a tile wins at once (a straggler copy's lease is revoked); its pixels
    /// are then stored off the loop, and the stage blends when every accepted tile is stored.
    mutating func result(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        let body = try m.decode(ResultBody.self)
        guard let lease = scheduler.lease(body.lease), lease.worker == peer, let job = jobs[lease.tile.job],
              job.phase == .running(stage: lease.tile.stage) else {
            _ = scheduler.complete(lease: body.lease, worker: peer, seconds: 0, now: t)  // frees an unknown lease's credit
            return [.log(.info, "result rejected: lease \(body.lease) is not live (lapsed, revoked or from before a restart)",
                         ["worker": "\(peer)"])]
                + send(peer, Message(.reject, RejectBody(lease: body.lease, reason: "lease \(body.lease) is not live")), now: t)
        }
        let core = job.stages[lease.tile.stage].plan.tiles[lease.tile.tile].core
        let pixels: PlanarImage
        do {
            guard m.payload.count == 1 else { throw ProtocolError.malformedBody("a result has one payload frame") }
            pixels = try PixelCodec.decode(m.payload[0], width: core.width, height: core.height)
            // A worker's tile is RGB in 0...1 (`CaffeImage.planarImage` clamps): anything else is not a rendering.
            guard pixels.pixels.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { throw ProtocolError.malformedBody("pixels outside 0...1") }
        } catch {
            let e = error as? ProtocolError ?? .malformedBody("\(error)")
            let (_, events) = scheduler.failed(lease: body.lease, worker: peer, reason: "bad result: \(e)", now: t)
            return [.count(.tileFailed), .count(.messageDropped), .log(.warning, "bad result: \(e)", ["worker": "\(peer)"])]
                + schedule(events, now: t) + send(peer, Message(.error, ErrorBody(code: e.code, message: e.description)), now: t)
        }
        let seconds = lease.plausible(seconds: body.seconds, now: t)  // for the metrics and the journal
        let (verdict, events) = scheduler.complete(lease: body.lease, worker: peer, seconds: seconds, now: t)
        var actions: [Action] = []
        if case .accepted = verdict {
            jobs[job.id]?.storing.insert(lease.tile.tile)
            jobs[job.id]?.progress[body.lease] = nil
            actions = [.count(.tileDone(seconds: seconds)),
                       .storeTile(job: job.id, stage: lease.tile.stage, tile: lease.tile.tile, pixels: pixels, worker: peer,
                                  seconds: seconds)]
        }
        return actions + schedule(events, now: t)
    }

    mutating func failed(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        _ = scheduler.heard(from: peer, now: t)
        let body = try m.decode(FailedBody.self)
        let (verdict, events) = scheduler.failed(lease: body.lease, worker: peer, reason: body.reason, now: t)
        let log: [Action] = if case .accepted = verdict {
            [.count(.tileFailed), .log(.warning, "tile failed under lease \(body.lease): \(body.reason)", ["worker": "\(peer)"])]
        } else {
            [.log(.info, "gave up stale lease \(body.lease): \(body.reason)", ["worker": "\(peer)"])]
        }
        return log + schedule(events, now: t)
    }

    func submit(_ m: Message, from peer: String) throws -> [Action] {
        let body = try m.decode(SubmitBody.self)
        try body.spec.validate()
        guard m.payload.count == body.spec.inputCount else {
            throw ProtocolError.malformedBody("a submit carries the content, \(body.spec.styleWeights.count) style image(s)"
                + (body.spec.frame == nil ? "" : ", the frame's start image" + (body.spec.frame?.temporalMask == true ? " and its mask" : "")))
        }
        return [.admit(spec: body.spec, inputs: m.payload, replyTo: peer)]
    }

    mutating func cancel(_ m: Message, from peer: String, now t: Double) throws -> [Action] {
        let body = try m.decode(CancelBody.self)
        guard let job = jobs[body.job], !job.phase.isFinal, scheduler.cancel(job: body.job, now: t) else {
            throw ProtocolError.malformedBody("no running job \(body.job)")
        }
        jobs[body.job]?.phase = .cancelled
        let reply = StatusReplyBody(jobs: jobStatuses(now: t).filter { $0.id == body.job }, workers: scheduler.workerStatuses(now: t))
        return [.persistState(job: body.job, .cancelled, detail: "cancelled"), .log(.info, "cancelled", ["job": "\(body.job)"]),
                .forget(job: body.job, blobs: jobBlobs(body.job))] + send(peer, reply.message, now: t)
    }
}
