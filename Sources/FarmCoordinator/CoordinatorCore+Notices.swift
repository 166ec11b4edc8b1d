import FarmProtocol
import FarmScheduler

/// What the operator is told (Docs/operations.md, "Webhooks"): a job ended, or a worker was lost. The core says so
/// with a `notify` action where it learns it; `Webhooks` delivers it. The payload's fields are this value's, with the
/// delivery's id added.
public struct FarmNotice: Codable, Sendable, Equatable {
    /// The event's type: the `StyleFarm-Event` header and the payload's `event`.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case jobDone = "job.done", jobFailed = "job.failed", jobCancelled = "job.cancelled", workerLost = "worker.lost"
    }

    /// A job that ended.
    public struct JobEnd: Codable, Sendable, Equatable {
        public var id: JobID
        public var name: String
        /// The name the allowlist gives the submitting key ("insecure" in plaintext); nil when the farm does not know it.
        public var owner: String?
        /// done, failed or cancelled.
        public var state: String
        /// Why it failed (or "cancelled").
        public var detail: String?
        /// Unix seconds: submitted, first ran, ended (nil when not known).
        public var submitted: Double?
        public var started: Double?
        public var finished: Double?
        /// Where the coordinator wrote the output and its size (a done job; filled in by the shell).
        public var output: Output?

        public init(
            id: JobID, name: String, owner: String?, state: String, detail: String?, submitted: Double?,
            started: Double?,
            finished: Double?, output: Output? = nil
        ) {
            (self.id, self.name, self.owner, self.state, self.detail) = (id, name, owner, state, detail)
            (self.submitted, self.started, self.finished, self.output) = (submitted, started, finished, output)
        }
    }

    /// A finished job's output on the coordinator's disk (fetch it with `stylefarm status JOB --output FILE`).
    public struct Output: Codable, Sendable, Equatable {
        public var path: String
        public var bytes: Int?
        public init(path: String, bytes: Int?) { (self.path, self.bytes) = (path, bytes) }
    }

    /// A worker that was lost, and what became of its leases.
    public struct WorkerLoss: Codable, Sendable, Equatable {
        /// Its id (the routing id the coordinator names it by) and the name it registered with.
        public var id: WorkerID
        public var name: String
        /// The host it said it runs on, and the name the allowlist gives its key.
        public var machine: String?
        public var key: String?
        /// Why: said goodbye, silent for N s, unreachable, re-registered, its routing id was taken.
        public var reason: String
        /// The tiles it held that went back to the queue for another worker.
        public var requeued: [Tile]

        public init(id: WorkerID, name: String, machine: String?, key: String?, reason: String, requeued: [Tile]) {
            (self.id, self.name, self.machine, self.key, self.reason, self.requeued) = (
                id, name, machine, key, reason, requeued
            )
        }
    }

    /// A tile of a job's stage.
    public struct Tile: Codable, Sendable, Equatable {
        public var job: JobID
        public var stage: Int
        public var tile: Int
        public init(job: JobID, stage: Int, tile: Int) { (self.job, self.stage, self.tile) = (job, stage, tile) }
    }

    public var event: Kind
    /// Unix seconds when it happened.
    public var time: Double
    public var job: JobEnd?
    public var worker: WorkerLoss?

    public init(event: Kind, time: Double, job: JobEnd? = nil, worker: WorkerLoss? = nil) {
        (self.event, self.time, self.job, self.worker) = (event, time, job, worker)
    }
}

/// Where the core tells the operator: when a job enters a final phase (done, failed, cancelled) and when the scheduler
/// loses a worker. A job found already ended in the journal at start is not news.
extension CoordinatorCore {
    /// The notice that job `id` ended, from what the core knows of it.
    func jobEndNotice(_ id: JobID, now: Double) -> [Action] {
        guard let job = jobs[id] else { return [] }
        let kind: FarmNotice.Kind, detail: String?
        switch job.phase {
        case .done: (kind, detail) = (.jobDone, nil)
        case let .failed(reason): (kind, detail) = (.jobFailed, reason)
        case .cancelled: (kind, detail) = (.jobCancelled, "cancelled")
        case .preparing, .running, .blending, .writing: return []
        }
        let end = FarmNotice.JobEnd(
            id: id, name: job.spec.name, owner: job.ownerName.isEmpty ? nil : job.ownerName,
            state: jobState(job).rawValue,
            detail: detail, submitted: job.submitted, started: job.started, finished: job.finished)
        return [.notify(FarmNotice(event: kind, time: wall(now), job: end))]
    }

    /// The notice that a worker was lost; `requeued` are the tiles the scheduler put back for it.
    func workerLostNotice(
        _ worker: WorkerID, name: String, host: String?, reason: String, requeued: [FarmScheduler.TileID],
        now: Double
    ) -> Action {
        let loss = FarmNotice.WorkerLoss(
            id: worker, name: name, machine: host, key: peers[worker.rawValue]?.caller.name, reason: reason,
            requeued: requeued.map { FarmNotice.Tile(job: $0.job, stage: $0.stage, tile: $0.tile) })
        return .notify(FarmNotice(event: .workerLost, time: wall(now), worker: loss))
    }
}
