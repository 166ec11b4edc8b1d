import FarmProtocol

/// What the scheduler tells the coordinator's status replies and the dashboard.
extension FarmScheduler {
    public func lease(_ token: LeaseToken) -> Lease? { leases[token] }

    /// A live worker's name.
    public func name(ofWorker id: WorkerID) -> String? { workers[id]?.name }

    /// A job's progress as the scheduler knows it: where its tiles are, its priority and pause. Its state (queued,
    /// running, ended) is not the scheduler's: the coordinator's core derives it from the job's phase.
    public struct JobCounts: Sendable, Equatable {
        /// The current stage, and how many the job has.
        public var stage: Int
        public var stages: Int
        /// Tiles of finished stages plus the current stage's finished tiles, and every stage's tiles.
        public var tilesDone: Int
        public var tilesTotal: Int
        /// Pixel-iterations of those tiles over the job's total.
        public var workFraction: Double
        public var priority: Int
        public var paused: Bool
    }

    /// A job's counts; nil for an unknown job.
    public func counts(job id: JobID) -> JobCounts? {
        guard let j = jobs[id] else { return nil }
        let total = j.work.joined().reduce(0, +)
        let doneWork = j.work.prefix(j.stage).joined().reduce(0, +) + j.done.reduce(0.0) { $0 + j.work[j.stage][$1] }
        let tilesDone = j.work.prefix(j.stage).reduce(0) { $0 + $1.count } + j.done.count
        return JobCounts(
            stage: j.stage, stages: j.work.count, tilesDone: tilesDone, tilesTotal: j.work.reduce(0) { $0 + $1.count },
            workFraction: total > 0 ? doneWork / total : 0, priority: j.priority, paused: j.paused)
    }

    /// The jobs' ids, oldest first (in the order they were added).
    public var jobOrder: [JobID] { jobs.values.sorted { $0.seq < $1.seq }.map(\.id) }

    /// What a runnable job with pending tiles and no lease waits for (paused, no workers, every worker blocklisted or
    /// draining, none with the memory for a tile, none free); nil when it is not runnable or not waiting.
    public func waiting(job id: JobID) -> String? {
        guard let job = jobs[id], job.runnable else { return nil }
        if job.paused { return "paused: no tile is leased until it is resumed" }
        if job.pending.isEmpty || leases.values.contains(where: { $0.tile.job == id }) { return nil }
        if workers.isEmpty { return "waiting for workers: none connected" }
        if workers.values.allSatisfy({ job.blocklist.contains($0.identity) }) {
            return "waiting for workers: every connected worker is blocklisted for this job"
        }
        if workers.values.allSatisfy({ job.blocklist.contains($0.identity) || drained.contains($0.identity) }) {
            return "waiting for workers: every connected worker is draining or blocklisted for this job"
        }
        if !job.memory.isEmpty,
            let t = job.pending.first(where: { t in
                !workers.values.contains { !job.blocklist.contains($0.identity) && eligible($0, tile: t, of: job) }
            }), workers.values.allSatisfy({ $0.memoryLimit != nil })
        {
            let need = job.memory[job.stage][t] >> 20,
                most = (workers.values.compactMap(\.memoryLimit).max() ?? 0) >> 20
            return
                "waiting for a worker with memory for tile \(t): it needs \(need) MiB, the largest --max-memory is \(most) MiB"
        }
        return "waiting for a free worker"
    }

    /// The current stage's tiles of a job: done, or leased (with the lease), or pending (nil).
    public func tileStates(job id: JobID) -> (stage: Int, done: Set<Int>, leased: [Int: Lease])? {
        guard let j = jobs[id] else { return nil }
        var leased: [Int: Lease] = [:]
        for lease in leases.values where lease.tile.job == id && lease.tile.stage == j.stage {
            leased[lease.tile.tile] = lease
        }
        return (j.stage, j.done, leased)
    }

    public func workerStatuses(now: Double) -> [WorkerStatus] {
        let blocklisted = Dictionary(grouping: jobs.values.flatMap { j in j.blocklist.map { ($0, j.id) } }, by: \.0)
        return workers.values.sorted { $0.id < $1.id }.map { w in
            var s = WorkerStatus(
                id: w.id, name: w.name, threads: w.threads, tiles: w.tiles, computeSeconds: w.computeSeconds,
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
