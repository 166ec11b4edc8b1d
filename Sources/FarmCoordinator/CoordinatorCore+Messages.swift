import FarmProtocol
import FarmScheduler
import Imaging
import Logging

/// Every command a peer may send (Docs/protocol.md, "Messages"), one function each.
extension CoordinatorCore {
    mutating func receive(_ m: Message, from peer: String, caller: Caller, now: Double) -> [Action] {
        switch bind(peer, to: caller, now: now) {
        case .known: break
        case .full:
            return [
                .count(.messageDropped),
                .log(.warning, "refused a new peer: \(config.maxPeers) peers are known", ["peer": "\(peer)"]),
                .send(
                    peer: peer,
                    Message(
                        .error, ErrorBody(code: .busy, message: "the coordinator knows too many peers; try again later")
                    ))
            ]
        case let .rebound(previous):
            // libzmq hands a routing id to a new connection only once the old one is gone, so the peer that held it has
            // left: whatever it held is given back, and this message (sent under another key) is not acted on.
            var actions: [Action] = [
                .count(.messageDropped),
                .log(
                    .warning,
                    "routing id reused by another key (\(caller.role.rawValue) '\(caller.name)'); "
                        + "the peer that held it ('\(previous.name)') is dropped", ["peer": "\(peer)"])
            ]
            if scheduler.liveWorkerIDs.contains(WorkerID(peer)) {
                actions += schedule(
                    scheduler.remove(worker: WorkerID(peer), reason: "its routing id was taken", now: now), now: now)
            }
            return actions
                + send(
                    peer,
                    Message(.error, ErrorBody(code: .forbidden, message: "this routing id belongs to another key")),
                    now: now)
        }
        guard caller.role.may(m.command) else {
            return [
                .count(.messageDropped),
                .log(
                    .warning, "\(m.command) refused: \(caller.role.rawValue) '\(caller.name)' may not send it",
                    ["peer": "\(peer)"])
            ]
                + send(
                    peer,
                    Message(
                        .error,
                        ErrorBody(code: .forbidden, message: "a \(caller.role.rawValue) key may not send \(m.command)")),
                    now: now)
        }
        do {
            return try dispatch(m, from: peer, caller: caller, now: now)
        } catch let e as ProtocolError {
            return [.count(.messageDropped), .log(.warning, "bad \(m.command): \(e)", ["peer": "\(peer)"])]
                + send(peer, Message(.error, ErrorBody(code: e.code, message: e.description)), now: now)
        } catch {
            return [.count(.messageDropped), .log(.error, "\(m.command) failed: \(error)", ["peer": "\(peer)"])]
                + send(peer, Message(.error, ErrorBody(code: .state, message: "\(error)")), now: now)
        }
    }

    enum Binding { case known, rebound(previous: Caller), full }

    /// Binds `peer` (a routing id) to the key it speaks with. A routing id that arrives under another key than the
    /// one it was bound to is a new connection reusing it: `rebound`.
    mutating func bind(_ peer: String, to caller: Caller, now: Double) -> Binding {
        if let entry = peers[peer] {
            peers[peer]?.lastHeard = now
            guard entry.caller.key != caller.key || entry.caller.role != caller.role else { return .known }
            peers[peer] = PeerEntry(caller: caller, lastHeard: now)
            return .rebound(previous: entry.caller)
        }
        guard peers.count < config.maxPeers else { return .full }
        peers[peer] = PeerEntry(caller: caller, lastHeard: now)
        return .known
    }

    /// Forgets peers that are not live workers and have been silent for `peerIdleSeconds`, and the budgets of keys
    /// whose last fetch window is that old (none with an output chunk on its way).
    mutating func forgetIdlePeers(now: Double) {
        budgets = budgets.filter {
            $0.value.outputInFlight || now - $0.value.fetchWindow < config.peerIdleSeconds
                || now - ($0.value.lastWeightsFetch ?? -.infinity) < config.weightsRefetchSeconds
        }
        for (peer, entry) in peers
        where now - entry.lastHeard >= config.peerIdleSeconds && !scheduler.liveWorkerIDs.contains(WorkerID(peer)) {
            peers[peer] = nil
            lastSent[peer] = nil
        }
        for (peer, sent) in lastSent
        where now - sent >= config.peerIdleSeconds && peers[peer] == nil
            && !scheduler.liveWorkerIDs.contains(WorkerID(peer))
        {
            lastSent[peer] = nil
        }
    }

    /// A job `caller` may see and touch: its own, or any for an admin. Another client's job is answered as if it did
    /// not exist, so ids cannot be probed.
    func job(_ id: JobID?, for caller: Caller) -> Job? {
        guard let id, let job = jobs[id], caller.role.seesEveryJob || job.owner == caller.key else { return nil }
        return job
    }

    /// The command table.
    mutating func dispatch(_ m: Message, from peer: String, caller: Caller, now t: Double) throws -> [Action] {
        // What a worker command names: its connection (the scheduler's `WorkerID`).
        let worker = WorkerID(peer)
        switch m.command {
        case .ready: return try ready(m, from: worker, caller: caller, now: t)
        case .heartbeat:
            guard scheduler.heard(from: worker, now: t) else {
                return sayReadyFirst(peer, now: t)
            }
            return []
        case .goodbye: return schedule(scheduler.remove(worker: worker, reason: "said goodbye", now: t), now: t)
        case .fetch:
            // Blobs (the weights, a job's targets) go to registered workers only: an unregistered peer gets
            // nothing but the answer to say `ready` first, counted as a refusal.
            guard scheduler.heard(from: worker, now: t) else {
                return sayReadyFirst(peer, now: t)
            }
            return try fetch(m, from: worker, now: t)
        case .progress: return try progress(m, from: worker, now: t)
        case .result:
            _ = scheduler.heard(from: worker, now: t)
            return try result(m, from: worker, now: t)
        case .failed: return try failed(m, from: worker, now: t)
        case .submit: return try submit(m, from: peer, owner: caller.key, now: t)
        case .status:
            let body = try m.decode(StatusBody.self)
            if let j = body.job, job(j, for: caller) == nil { throw ProtocolError.malformedBody("no job \(j)") }
            let jobs = jobStatuses(now: t).filter {
                body.job == nil ? job($0.id, for: caller) != nil : $0.id == body.job
            }
            return send(peer, StatusReplyBody(jobs: jobs, workers: workerStatuses(for: caller, now: t)).message, now: t)
        case .cancel:
            let body = try m.decode(CancelBody.self)
            return controlMessage(
                ControlBody(.cancel, job: body.job), from: peer, caller: caller, now: t, asCancel: true)
        case .control: return controlMessage(try m.decode(ControlBody.self), from: peer, caller: caller, now: t)
        case .fetchOutput:
            let body = try m.decode(OutputRequestBody.self)
            guard let job = job(body.job, for: caller), job.phase == .done else {
                throw ProtocolError.malformedBody("job \(body.job) has no output (not done)")
            }
            let key = budgetKey(peer, caller)
            if let refusal = fetchLimit(key, weights: false, perMinute: config.outputChunksPerMinute, now: t)
                ?? (budgets[key]?.outputInFlight == true
                    ? "one output chunk at a time per key: the last is still on its way" : nil)
            {
                return [.count(.messageDropped), .log(.warning, "fetchOutput refused: \(refusal)", ["peer": "\(peer)"])]
                    + send(peer, Message(.error, ErrorBody(code: .busy, message: refusal)), now: t)
            }
            budgets[key]?.outputInFlight = true
            return [
                .sendOutput(peer: peer, job: job.id, format: job.spec.format, offset: body.offset ?? 0, budget: key)
            ]
        case .welcome, .assign, .blob, .reject, .error, .submitted, .statusReply, .output, .controlled:
            throw ProtocolError.malformedBody("\(m.command) is not sent to a coordinator")
        }
    }

    /// The answer to a worker command from a peer that has not said `ready`, counted as a refusal.
    mutating func sayReadyFirst(_ peer: String, now t: Double) -> [Action] {
        [.count(.messageDropped)]
            + send(peer, Message(.error, ErrorBody(code: .unknownWorker, message: "say ready first")), now: t)
    }

    mutating func ready(_ m: Message, from worker: WorkerID, caller: Caller, now t: Double) throws -> [Action] {
        let body = try m.decode(ReadyBody.self)
        guard body.versions.contains(FarmProtocol.version) else {
            throw ProtocolError.unsupportedVersion(body.versions.max() ?? 0)
        }
        scheduler.workerReady(
            id: worker, identity: caller.key + "/" + body.name,
            account: caller.key.isEmpty ? "insecure/" + body.name : caller.key,
            name: body.name, threads: body.threads, busy: body.busy.count,
            memoryLimit: body.memoryLimit, speed: body.speed, kernel: body.kernel.map { String($0.prefix(300)) },
            host: body.host.map { String($0.prefix(100)) }, now: t)
        let about =
            "\(body.name), \(body.threads) threads" + (body.memoryLimit.map { ", \($0 >> 20) MiB" } ?? "")
            + (body.speed.map { ", \(Int(saturating: $0)) px·it/s" } ?? "")
            + (body.kernel.map { ", \($0.prefix(300))" } ?? "")
        return [.log(.info, "worker joined (\(about))", ["worker": "\(worker)"])]
            + send(
                worker,
                Message(
                    .welcome,
                    WelcomeBody(
                        worker: worker, heartbeatSeconds: config.scheduler.heartbeat,
                        liveness: config.scheduler.liveness, weights: config.weightsSHA,
                        weightsBytes: config.weightsBytes)), now: t)
    }

    mutating func fetch(_ m: Message, from worker: WorkerID, now t: Double) throws -> [Action] {
        _ = scheduler.heard(from: worker, now: t)
        let body = try m.decode(FetchBody.self)
        // Blobs go to registered workers only, each a connection the worker table bounds, and one worker key may serve a
        // whole cluster of machines: they are budgeted per connection. Outputs (any client) are budgeted per key.
        if let refusal = fetchLimit("peer:" + worker.rawValue, weights: body.kind == .weights, now: t) {
            return [.count(.messageDropped), .log(.warning, "fetch refused: \(refusal)", ["peer": "\(worker)"])]
                + send(worker, Message(.reject, RejectBody(lease: nil, reason: refusal)), now: t)
        }
        if (body.kind == .weights && body.sha256 == config.weightsSHA)
            || (body.kind == .targets && blobs.contains(body.sha256))
        {
            lastSent[worker.rawValue] = t
            return [.sendBlob(peer: worker.rawValue, body)]
        }
        return [.count(.messageDropped)]
            + send(
                worker, Message(.reject, RejectBody(lease: nil, reason: "no \(body.kind) with sha256 \(body.sha256)")),
                now: t)
    }

    /// Whose budget an output fetch spends (`KeyBudget`): its key's; in plaintext, where every peer is the same
    /// "insecure" caller, its connection's.
    func budgetKey(_ peer: String, _ caller: Caller) -> String {
        caller.key.isEmpty ? "peer:" + peer : caller.key
    }

    /// Why this fetch is over the key's limits (`Config.weightsRefetchSeconds`, `fetchesPerMinute`), or nil; counts it.
    mutating func fetchLimit(_ key: String, weights: Bool, perMinute: Int? = nil, now t: Double) -> String? {
        var entry = budgets[key] ?? KeyBudget()
        defer { budgets[key] = entry }
        if t - entry.fetchWindow >= 60 { (entry.fetchWindow, entry.fetches) = (t, 0) }
        entry.fetches += 1
        let limit = perMinute ?? config.fetchesPerMinute
        guard entry.fetches <= limit else { return "more than \(limit) fetches in a minute" }
        if weights {
            if let last = entry.lastWeightsFetch, t - last < config.weightsRefetchSeconds {
                return
                    "the weights were sent \(Int(saturating: t - last)) s ago; at most once in \(Int(saturating: config.weightsRefetchSeconds)) s"
            }
            entry.lastWeightsFetch = t
        }
        return nil
    }

    mutating func progress(_ m: Message, from worker: WorkerID, now t: Double) throws -> [Action] {
        // unanswered, as progress is
        guard scheduler.heard(from: worker, now: t) else { return [.count(.messageDropped)] }
        let body = try m.decode(ProgressBody.self)
        switch scheduler.progress(lease: body.lease, worker: worker, now: t) {
        case let .rejected(why):
            return [.count(.messageDropped)]
                + send(worker, Message(.reject, RejectBody(lease: body.lease, reason: why)), now: t)
        case let .accepted(tile):
            jobs[tile.job]?.progress[body.lease] = body
            record(tile) { $0.record(iteration: body.iteration, loss: body.loss) }
            return []
        }
    }

    /// A finished tile: accepted under a live lease held by this peer, with pixels of the tile's core size, all
    /// finite. The first valid result of a tile wins at once (a straggler copy's lease is revoked); its pixels
    /// are then stored off the loop, and the stage blends when every accepted tile is stored.
    mutating func result(_ m: Message, from worker: WorkerID, now t: Double) throws -> [Action] {
        let body = try m.decode(ResultBody.self)
        guard let lease = scheduler.lease(body.lease), lease.worker == worker, let job = jobs[lease.tile.job],
            job.phase == .running(stage: lease.tile.stage)
        else { return resultNotLive(body, from: worker, now: t) }
        let core = job.stages[lease.tile.stage].plan.tiles[lease.tile.tile].core
        let pixels: PlanarImage
        do {
            guard m.payload.count == 1 else { throw ProtocolError.malformedBody("a result has one payload frame") }
            pixels = try PixelCodec.decode(m.payload[0], width: core.width, height: core.height)
            // A worker's tile is RGB in 0...1 (`CaffeImage.planarImage` clamps): anything else is not a rendering.
            guard pixels.pixels.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
                throw ProtocolError.malformedBody("pixels outside 0...1")
            }
        } catch {
            let e = error as? ProtocolError ?? .malformedBody("\(error)")
            note(lease.tile, "rejected", worker: worker, "result from \(workerName(worker)) rejected: \(e)", now: t)
            let (_, events) = scheduler.failed(lease: body.lease, worker: worker, reason: "bad result: \(e)", now: t)
            return [
                .count(.tileFailed), .count(.messageDropped),
                .log(.warning, "bad result: \(e)", ["worker": "\(worker)"])
            ]
                + schedule(events, now: t)
                + send(worker, Message(.error, ErrorBody(code: e.code, message: e.description)), now: t)
        }
        let seconds = lease.plausible(seconds: body.seconds, now: t)  // for the metrics and the journal
        let (verdict, events) = scheduler.complete(lease: body.lease, worker: worker, seconds: seconds, now: t)
        var actions: [Action] = []
        if case .accepted = verdict {
            jobs[job.id]?.storing.insert(lease.tile.tile)
            jobs[job.id]?.progress[body.lease] = nil
            let name = scheduler.name(ofWorker: worker) ?? worker.rawValue
            record(lease.tile) { r in
                (r.worker, r.seconds, r.loss) = (name, seconds, body.loss.isFinite ? body.loss : nil)
            }
            actions = [
                .count(.tileDone(seconds: seconds)),
                .storeTile(
                    job: job.id, stage: lease.tile.stage, tile: lease.tile.tile, pixels: pixels, worker: worker,
                    seconds: seconds)
            ]
        }
        return actions + schedule(events, now: t)
    }

    /// A result whose lease is not live here (lapsed, revoked, from before a restart): refused, its credit freed.
    mutating func resultNotLive(_ body: ResultBody, from worker: WorkerID, now t: Double) -> [Action] {
        if let known = scheduler.lease(body.lease) {
            note(
                known.tile, "rejected", worker: worker,
                "result from \(workerName(worker)) rejected: its lease is not live here", now: t)
        }
        // frees an unknown lease's credit
        _ = scheduler.complete(lease: body.lease, worker: worker, seconds: 0, now: t)
        return [
            .count(.messageDropped),
            .log(
                .info,
                "result rejected: lease \(body.lease) is not live (lapsed, revoked or from before a restart)",
                ["worker": "\(worker)"])
        ]
            + send(
                worker, Message(.reject, RejectBody(lease: body.lease, reason: "lease \(body.lease) is not live")),
                now: t)
    }

    mutating func failed(_ m: Message, from worker: WorkerID, now t: Double) throws -> [Action] {
        _ = scheduler.heard(from: worker, now: t)
        let body = try m.decode(FailedBody.self)
        let (verdict, events) = scheduler.failed(lease: body.lease, worker: worker, reason: body.reason, now: t)
        if case let .accepted(tile) = verdict {
            note(tile, "failed", worker: worker, "\(workerName(worker)) failed it: \(body.reason)", now: t)
        }
        let log: [Action] =
            if case .accepted = verdict {
                [
                    .count(.tileFailed),
                    .log(.warning, "tile failed under lease \(body.lease): \(body.reason)", ["worker": "\(worker)"])
                ]
            } else {
                [.log(.info, "gave up stale lease \(body.lease): \(body.reason)", ["worker": "\(worker)"])]
            }
        return log + schedule(events, now: t)
    }

    /// The farm's workers as `caller` may see them: an admin sees routing ids and lease tokens; a client sees each
    /// worker's name, size and speed, and neither (a lease token is a worker's alone).
    func workerStatuses(for caller: Caller, now t: Double) -> [WorkerStatus] {
        let all = scheduler.workerStatuses(now: t).map { w in
            var w = w
            w.keyName = peers[w.id.rawValue]?.caller.name
            return w
        }
        guard !caller.role.seesEveryJob else { return all }
        return all.map { w in
            var w = w
            (w.id, w.leases, w.tilesNow) = (WorkerID(w.name), [], nil)
            return w
        }
    }

    func submit(_ m: Message, from peer: String, owner: String, now t: Double) throws -> [Action] {
        let body = try m.decode(SubmitBody.self)  // its spec validated at decode
        guard m.payload.count == body.spec.inputCount else {
            throw ProtocolError.malformedBody(
                "a submit carries the content, \(body.spec.styleWeights.count) style image(s)"
                    + (body.spec.frame == nil
                        ? ""
                        : ", the frame's start image"
                            + (body.spec.frame?.temporalMask == true ? " and its mask" : "")
                            + (body.spec.frame?.carriesTemporalImage == true ? " and its target" : ""))
                    + (body.spec.controlInputs == 0
                        ? "" : ", then \(body.spec.controlInputs) mask(s): the region mask and the masked styles'"))
        }
        return [.admit(spec: body.spec, inputs: m.payload, replyTo: peer, owner: owner, submitted: wall(t))]
    }
}
