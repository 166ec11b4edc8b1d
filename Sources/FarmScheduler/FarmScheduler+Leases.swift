import FarmProtocol

/// Leases: progress renews one, a result completes it, a failure, a lapse, a cap or a lost worker requeues its tile.
extension FarmScheduler {
    /// Progress renews a lease, up to its life's cap (`Config.leaseLifeFactor`).
    public mutating func progress(lease token: LeaseToken, worker: WorkerID, now: Double) -> Verdict {
        guard let lease = leases[token], lease.worker == worker else { return .rejected("lease \(token) is not live") }
        let expires = min(now + config.leaseSeconds, lifeCap(lease))
        leases[token]?.expires = expires
        return .accepted(lease.tile)
    }

    /// When `lease` may be renewed to at most: `leaseLifeFactor` times its tile's work at the stage's slowest rate so far
    /// after it was granted (no sooner than one renewal), or never before the stage's first result.
    func lifeCap(_ lease: Lease) -> Double {
        guard let job = jobs[lease.tile.job], job.slowestRate > 0 else { return .infinity }
        let work = max(job.work[lease.tile.stage][lease.tile.tile], 1)
        return lease.started + max(config.leaseSeconds, config.leaseLifeFactor * job.slowestRate * work)
    }

    /// A finished tile. Accepted only under a live lease held by this worker.
    public mutating func complete(lease token: LeaseToken, worker: WorkerID, seconds: Double, now: Double) -> (
        Verdict, [Event]
    ) {
        guard let lease = leases[token], lease.worker == worker else {
            if workers[worker] != nil, workers[worker]!.busy > 0 { workers[worker]!.busy -= 1 }
            return (.rejected("lease \(token) is not live (lapsed, revoked or from before a restart)"), [])
        }
        revoke(token)
        // The tile's time as measured here, not as the worker says: its compute began no earlier than the later of
        // the lease and the worker's previous result (a worker renders one tile at a time). The reported seconds
        // only count towards the worker's compute time, clamped (`Lease.plausible`).
        let since = max(lease.started, workers[worker]?.lastResult ?? lease.started)
        let measured = max(now - since, Self.shortestTile)
        workers[worker]?.tiles += 1
        workers[worker]?.computeSeconds += lease.plausible(seconds: seconds, now: now)
        workers[worker]?.lastResult = now
        var job = jobs[lease.tile.job]!
        let work = job.work[lease.tile.stage][lease.tile.tile]
        if work > 0, let w = workers[worker] {
            // Exponentially weighted, so a worker that slows down (or speeds up) is seen within a few tiles.
            let sample = work / measured
            let speed = w.measuredSpeed.map { 0.5 * $0 + 0.5 * sample } ?? sample
            workers[worker]?.measuredSpeed = speed
            fastestMeasured = max(fastestMeasured ?? 0, speed)
        }
        job.done.insert(lease.tile.tile)
        if lease.tile.stage == job.stage {
            job.slowestRate = max(job.slowestRate, (now - lease.started) / max(work, 1))
        }
        jobs[job.id] = job
        var events: [Event] = []
        for other in (tileLeases[lease.tile] ?? []).sorted() {
            let copy = leases[other]!
            revoke(other)
            events.append(.revoked(worker: copy.worker, tile: copy.tile, lease: other))
        }
        let finished = job.done.count == job.work[job.stage].count
        return (.accepted(lease.tile), events + (finished ? [.stageFinished(job: job.id, stage: job.stage)] : []))
    }

    /// The worker could not render the tile.
    public mutating func failed(lease token: LeaseToken, worker: WorkerID, reason: String, now: Double) -> (
        Verdict, [Event]
    ) {
        guard let lease = leases[token], lease.worker == worker else {
            if workers[worker] != nil, workers[worker]!.busy > 0 { workers[worker]!.busy -= 1 }
            return (.rejected("lease \(token) is not live"), [])
        }
        revoke(token)
        return (.accepted(lease.tile), requeue(lease, reason: reason, cause: .failed, now: now))
    }

    /// Expires silent workers and lapsed leases.
    public mutating func tick(now: Double) -> [Event] {
        var events: [Event] = []
        let silence = config.heartbeat * Double(config.liveness)
        for id in workers.values.filter({ now - $0.lastHeard > silence }).map(\.id).sorted() {
            events += lose(worker: id, reason: "silent for \(Int(saturating: silence)) s", now: now)
        }
        for token in leases.values.filter({ $0.expires < now }).map(\.token).sorted() {
            let lease = leases[token]!
            revoke(token)
            let cap = lifeCap(lease), capped = lease.expires >= cap
            events += requeue(
                lease,
                reason: capped
                    ? "lease reached its cap of \(Int(saturating: cap - lease.started)) s (\(Int(saturating: config.leaseLifeFactor))x its work at the stage's slowest rate) without a result"
                    : "lease lapsed after \(Int(saturating: config.leaseSeconds)) s without progress",
                cause: capped ? .capped : .lapsed, now: now)
        }
        fastestMeasured = workers.values.compactMap(\.measuredSpeed).max()
        return events
    }

    mutating func revoke(_ token: LeaseToken) {
        guard let lease = leases.removeValue(forKey: token) else { return }
        tileLeases[lease.tile]?.remove(token)
        if tileLeases[lease.tile]?.isEmpty == true { tileLeases[lease.tile] = nil }
        workers[lease.worker]?.leases.remove(token)
    }

    mutating func lose(worker id: WorkerID, reason: String, now: Double) -> [Event] {
        var events: [Event] = [
            .workerLost(worker: id, name: workers[id]!.name, host: workers[id]!.host, reason: reason)
        ]
        for token in workers[id]!.leases.sorted() {
            let lease = leases[token]!
            revoke(token)
            events += requeue(lease, reason: "worker \(id) lost: \(reason)", cause: .workerLost, now: now)
        }
        workers[id] = nil
        return events
    }

    /// Puts a tile back and counts the failure against the tile and the worker.
    mutating func requeue(_ lease: Lease, reason: String, cause: LeaseFailure, now: Double) -> [Event] {
        guard var job = jobs[lease.tile.job], job.runnable, lease.tile.stage == job.stage else { return [] }
        var events: [Event] = [
            .requeued(tile: lease.tile, worker: lease.worker, lease: lease.token, reason: reason, cause: cause)
        ]
        let t = lease.tile.tile
        job.tileFailures[t, default: []].insert(lease.account)
        job.failedOn[t, default: []].insert(lease.worker)
        let failures = job.failuresByWorker[lease.identity, default: 0] + 1
        job.failuresByWorker[lease.identity] = failures
        if failures >= config.workerFailureLimit, job.blocklist.insert(lease.identity).inserted {
            events.append(.workerBlocklisted(worker: lease.worker, job: job.id))
        }
        jobs[job.id] = job
        if job.tileFailures[t]!.count >= config.tileFailureLimit {
            let why = "tile \(lease.tile) failed on \(job.tileFailures[t]!.count) workers; last: \(reason)"
            close(job: job.id)
            return events + [.jobFailed(job: job.id, reason: why)]
        }
        // A straggler copy of this tile may still run elsewhere: then it is not pending again.
        if tileLeases[lease.tile] == nil, !jobs[job.id]!.pending.contains(t) {
            jobs[job.id]!.pending.append(t)
            jobs[job.id]!.pending.sort()
        }
        return events
    }
}
