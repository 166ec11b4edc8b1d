import FarmProtocol

/// What the scheduler tells the coordinator's status replies and the dashboard.
extension FarmScheduler {
    public func lease(_ token: String) -> Lease? { leases[token] }

    public func state(of job: String) -> JobState? { jobs[job]?.state }

    /// A live worker's name.
    public func name(ofWorker id: String) -> String? { workers[id]?.name }

    public func status(job id: String, now: Double) -> JobStatus? {
        guard let j = jobs[id] else { return nil }
        let total = j.work.joined().reduce(0, +)
        let finishedStages = j.state == .done ? j.work.count : j.stage
        let doneWork = j.work.prefix(finishedStages).joined().reduce(0, +)
            + (j.state == .done ? 0 : j.done.reduce(0.0) { $0 + j.work[j.stage][$1] })
        let tilesTotal = j.work.reduce(0) { $0 + $1.count }
        let tilesDone = j.work.prefix(finishedStages).reduce(0) { $0 + $1.count } + (j.state == .done ? 0 : j.done.count)
        var status = JobStatus(id: j.id, name: j.name, priority: j.priority, state: j.state, detail: j.detail, stage: j.stage,
                               stages: j.work.count, tilesDone: tilesDone, tilesTotal: tilesTotal,
                               workFraction: total > 0 ? doneWork / total : 0,
                               elapsed: j.started.map { (j.finished ?? now) - $0 } ?? 0)
        status.paused = j.paused ? true : nil
        return status
    }

    public func jobStatuses(now: Double) -> [JobStatus] {
        jobs.values.sorted { $0.seq < $1.seq }.compactMap { status(job: $0.id, now: now) }
    }

    /// The current stage's tiles of a job: done, or leased (with the lease), or pending (nil).
    public func tileStates(job id: String) -> (stage: Int, done: Set<Int>, leased: [Int: Lease])? {
        guard let j = jobs[id] else { return nil }
        var leased: [Int: Lease] = [:]
        for lease in leases.values where lease.tile.job == id && lease.tile.stage == j.stage { leased[lease.tile.tile] = lease }
        return (j.stage, j.done, leased)
    }

    public func workerStatuses(now: Double) -> [WorkerStatus] {
        let blocklisted = Dictionary(grouping: jobs.values.flatMap { j in j.blocklist.map { ($0, j.id) } }, by: \.0)
        return workers.values.sorted { $0.id < $1.id }.map { w in
            var s = WorkerStatus(id: w.id, name: w.name, threads: w.threads, tiles: w.tiles, computeSeconds: w.computeSeconds,
                                 leases: w.leases.sorted(), silentFor: now - w.lastHeard, memoryLimit: w.memoryLimit,
                                 speed: w.speed(cap: fastestMeasured), kernel: w.kernel)
            s.host = w.host
            s.draining = drained.contains(w.identity) ? true : nil
            s.tilesNow = w.leases.compactMap { leases[$0]?.tile.description }.sorted()
            s.blocklisted = blocklisted[w.identity].map { $0.map(\.1).sorted() }
            return s
        }
    }
}
