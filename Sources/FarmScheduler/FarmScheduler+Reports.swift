import FarmProtocol

/// What the scheduler tells the coordinator's status replies and the dashboard.
extension FarmScheduler {
    public func lease(_ token: String) -> Lease? { leases[token] }

    public func state(of job: String) -> JobState? { jobs[job]?.state }

    public func status(job id: String, now: Double) -> JobStatus? {
        guard let j = jobs[id] else { return nil }
        let total = j.work.joined().reduce(0, +)
        let finishedStages = j.state == .done ? j.work.count : j.stage
        let doneWork = j.work.prefix(finishedStages).joined().reduce(0, +)
            + (j.state == .done ? 0 : j.done.reduce(0.0) { $0 + j.work[j.stage][$1] })
        let tilesTotal = j.work.reduce(0) { $0 + $1.count }
        let tilesDone = j.work.prefix(finishedStages).reduce(0) { $0 + $1.count } + (j.state == .done ? 0 : j.done.count)
        return JobStatus(id: j.id, name: j.name, priority: j.priority, state: j.state, detail: j.detail, stage: j.stage,
                         stages: j.work.count, tilesDone: tilesDone, tilesTotal: tilesTotal,
                         workFraction: total > 0 ? doneWork / total : 0,
                         elapsed: j.started.map { (j.finished ?? now) - $0 } ?? 0)
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
        workers.values.sorted { $0.id < $1.id }.map {
            WorkerStatus(id: $0.id, name: $0.name, threads: $0.threads, tiles: $0.tiles, computeSeconds: $0.computeSeconds,
                         leases: $0.leases.sorted(), silentFor: now - $0.lastHeard, memoryLimit: $0.memoryLimit, speed: $0.speed(cap: fastestMeasured),
                         kernel: $0.kernel)
        }
    }
}
