import FarmProtocol

/// Placement: which worker gets which tile (Docs/protocol.md, "Scheduling"): by speed, within memory limits,
/// the stage's last tiles on the workers expected to finish them first, and straggler copies.
extension FarmScheduler {
    /// Fills every worker's free credit. Deterministic: workers by speed (fastest first, unknown last) then id,
    /// jobs by priority then age. Cost per call: O(W) for W workers and a sort of the free ones, plus, per job
    /// at a stage's end, one earliest-finish plan of its last tiles (O(P·W), P ≤ W) and one ranking of its
    /// running tiles.
    public mutating func assignments(now: Double) -> [Event] {
        var events: [Event] = []
        let order = jobs.values.filter { $0.runnable && !$0.paused }.sorted {
            ($0.priority, -$0.seq) > ($1.priority, -$1.seq)
        }.map(\.id)
        guard !order.isEmpty else { return [] }
        var tailPlans: [JobID: [WorkerID: Int]?] = [:]  // per job, computed once per call
        // Pending tiles of the jobs placed before each job: a job is at its stage's end only when these and its own
        // are fewer than the workers (before that, every worker gets a pending tile of some job anyway).
        var ahead: [JobID: Int] = [:], queued = 0
        for jid in order { ahead[jid] = queued; queued += jobs[jid]!.pending.count }
        var copyCandidates: [JobID: [(tile: Int, lease: Lease, finish: Double)]] = [:]
        for wid in freeWorkersBySpeed() {
            while let w = workers[wid], w.leases.count + w.busy < config.credit {
                var copy = false
                var next = nextTile(for: wid, jobs: order, now: now, ahead: ahead, plans: &tailPlans)
                if next == nil, config.stragglerCopies {
                    next = stragglerCopy(for: wid, jobs: order, now: now, candidates: &copyCandidates)
                    copy = next != nil
                }
                guard let (jid, tile) = next else { break }
                counter += 1
                let token = LeaseToken("\(epoch)-\(counter)")
                let id = TileID(job: jid, stage: jobs[jid]!.stage, tile: tile)
                leases[token] = Lease(
                    token: token, tile: id, worker: wid, identity: workers[wid]?.identity ?? wid.rawValue,
                    account: workers[wid]?.account ?? wid.rawValue, expires: now + config.leaseSeconds, started: now,
                    copy: copy)
                tileLeases[id, default: []].insert(token)
                workers[wid]!.leases.insert(token)
                jobs[jid]!.pending.removeAll { $0 == tile }
                jobs[jid]!.attempts[tile, default: 0] += 1
                events.append(.assign(worker: wid, tile: id, lease: token))
            }
        }
        return events
    }

    /// Workers with free credit, fastest first (unknown speeds last), then by id. Only the free ones are
    /// sorted: the coordinator calls `assignments` after every batch of messages.
    func freeWorkersBySpeed() -> [WorkerID] {
        workers.values.filter { $0.leases.count + $0.busy < config.credit && !drained.contains($0.identity) }
            .map { (id: $0.id, speed: $0.speed(cap: fastestMeasured) ?? -1) }
            .sorted { a, b in a.speed == b.speed ? a.id < b.id : a.speed > b.speed }
            .map(\.id)
    }

    /// Whether `worker` may take tile `t` of `job` at all: not failed there, and within its memory limit.
    func eligible(_ worker: WorkerState, tile t: Int, of job: JobRecord) -> Bool {
        if job.failedOn[t]?.contains(worker.id) ?? false { return false }
        guard let limit = worker.memoryLimit, !job.memory.isEmpty else { return true }
        return job.memory[job.stage][t] <= limit
    }

    func nextTile(
        for worker: WorkerID, jobs order: [JobID], now: Double, ahead: [JobID: Int],
        plans: inout [JobID: [WorkerID: Int]?]
    ) -> (JobID, Int)? {
        guard let w = workers[worker] else { return nil }
        for jid in order {
            let job = jobs[jid]!
            guard !job.blocklist.contains(w.identity) else { continue }
            guard let first = job.pending.first(where: { eligible(w, tile: $0, of: job) }) else { continue }
            if plans[jid] == nil { plans[jid] = .some(tailAssignment(job: job, now: now, ahead: ahead[jid] ?? 0)) }
            guard var tail = plans[jid]! else { return (jid, first) }
            // The stage's last tiles: take the one the earliest-finish plan gives this worker now, or none.
            guard let t = tail.removeValue(forKey: worker), job.pending.contains(t) else { continue }
            plans[jid] = .some(tail)
            return (jid, t)
        }
        return nil
    }

    /// When a job's pending tiles, with the `ahead` pending tiles of the jobs placed before it, are no more than the
    /// workers that may take them and every such worker's speed is known: plans them greedily in order, each on the worker expected to finish it first (a busy worker from
    /// when its current tiles should end), and returns the tile each free worker should start now. Nil otherwise.
    /// Cost: O(P·W) for P pending tiles and W workers, in arrays indexed like the workers (sorted by id), so a
    /// farm of a thousand workers plans its last round in about a millisecond. Counting the jobs ahead keeps twenty
    /// jobs of a few hundred tiles each from each planning a tail on every call while the farm is far from one.
    func tailAssignment(job: JobRecord, now: Double, ahead: Int) -> [WorkerID: Int]? {
        guard ahead + job.pending.count <= workers.count else { return nil }  // the common case, before any sorting
        let candidates = workers.values.filter {
            !job.blocklist.contains($0.identity) && !drained.contains($0.identity)
        }.sorted { $0.id < $1.id }
        guard job.pending.count <= candidates.count else { return nil }
        let speeds = candidates.compactMap { $0.speed(cap: fastestMeasured) }
        guard candidates.count > 1, speeds.count == candidates.count else { return nil }
        var available = candidates.map { w in
            w.leases.count + w.busy < config.credit
                ? now
                : max(now, w.leases.compactMap { leases[$0] }.map { expectedFinish($0, now: now) }.min() ?? now)
        }
        var plan: [WorkerID: Int] = [:]
        for t in job.pending {
            let work = job.work[job.stage][t]
            // The earliest finish; on a tie the lowest id (the first in id order), as `min` over (finish, id) would.
            var best = -1, bestFinish = Double.infinity
            for i in candidates.indices where eligible(candidates[i], tile: t, of: job) {
                let finish = available[i] + work / speeds[i]
                if finish < bestFinish { (best, bestFinish) = (i, finish) }
            }
            guard best >= 0 else { continue }
            if available[best] == now, plan[candidates[best].id] == nil { plan[candidates[best].id] = t }
            available[best] += work / speeds[best]
        }
        return plan
    }

    /// When a lease's tile should be done: from its holder's speed, or, once overdue or with no speed known,
    /// as long again as it has run so far.
    func expectedFinish(_ lease: Lease, now: Double) -> Double {
        let work = jobs[lease.tile.job]?.work[lease.tile.stage][lease.tile.tile] ?? 0
        guard let speed = workers[lease.worker]?.speed(cap: fastestMeasured) else { return now + (now - lease.started) }
        let end = lease.started + work / speed
        return end > now ? end : now + (now - lease.started)
    }

    /// A copy for an idle worker: among runnable jobs with no pending tiles, the running tile (one lease, not
    /// this worker's) expected to finish last, if this worker is expected to finish a copy sooner. The ranking of
    /// a job's running tiles is made once per `assignments` call; a tile leaves it when copied.
    func stragglerCopy(
        for worker: WorkerID, jobs order: [JobID], now: Double,
        candidates: inout [JobID: [(tile: Int, lease: Lease, finish: Double)]]
    ) -> (JobID, Int)? {
        guard let w = workers[worker] else { return nil }
        for jid in order {
            let job = jobs[jid]!
            guard job.pending.isEmpty, !job.blocklist.contains(w.identity) else { continue }
            if candidates[jid] == nil {
                candidates[jid] = tileLeases.filter {
                    $0.key.job == jid && $0.key.stage == job.stage && $0.value.count == 1
                }
                .map { id, tokens in
                    let lease = leases[tokens.first!]!
                    return (tile: id.tile, lease: lease, finish: expectedFinish(lease, now: now))
                }
                .sorted { ($0.finish, -$0.tile) > ($1.finish, -$1.tile) }
            }
            guard
                let i = candidates[jid]!.firstIndex(where: {
                    $0.lease.worker != worker && eligible(w, tile: $0.tile, of: job)
                })
            else { continue }
            let c = candidates[jid]![i]
            let copyFinish = now + (w.speed(cap: fastestMeasured).map { job.work[job.stage][c.tile] / $0 } ?? 0)
            guard copyFinish < c.finish else { continue }
            candidates[jid]!.remove(at: i)
            return (jid, c.tile)
        }
        return nil
    }
}
