/// client or admin → coordinator: steer a job or a worker (Docs/protocol.md, "Control"). The dashboard's buttons
/// perform the same `ControlBody` through the same code (`CoordinatorCore.control`), so the command line and the page
/// cannot disagree on what an action does or who may take it.
public struct ControlBody: Codable, Sendable, Equatable {
    /// What to do. Job verbs need `job`; worker verbs need `worker` (an admin's only).
    public enum Verb: String, Codable, Sendable, CaseIterable {
        /// Job: end it now; its leases are revoked.
        case cancel
        /// Job: lease none of its tiles until `resume`; the tiles already out finish. Worker: (with `worker`) undo `drain`.
        case pause, resume
        /// Job: set its priority (`priority`, in `JobSpec.Limits.priority`; higher goes first).
        case priority
        /// Job: run a failed or cancelled job again from the stage it stopped in, keeping its finished tiles.
        case retry
        /// Job: give the current stage's tiles that failed fresh attempts (their failure counts and the workers they
        /// failed on are forgotten).
        case requeue
        /// Worker: finish the tiles it holds, take no more (kept across its reconnects until `resume`).
        case drain
        /// Worker: forget its failures, so it may take tiles of the jobs it was blocklisted on.
        case clearBlocklist = "clear-blocklist"

        public static let jobVerbs: Set<Verb> = [.cancel, .pause, .resume, .priority, .retry, .requeue]
        public static let workerVerbs: Set<Verb> = [.drain, .resume, .clearBlocklist]
    }

    public var verb: Verb
    /// The job's id, for a job verb.
    public var job: JobID?
    /// The worker's id or name (a name must match one live worker), for a worker verb.
    public var worker: String?
    /// The new priority, for `priority`.
    public var priority: Int?

    public init(_ verb: Verb, job: JobID? = nil, worker: String? = nil, priority: Int? = nil) {
        (self.verb, self.job, self.worker, self.priority) = (verb, job, worker, priority)
    }
}

/// coordinator → client: what a control did, with the job or worker as it is now.
public struct ControlledBody: Codable, Sendable, Equatable {
    public var message: String
    public var job: JobStatus?
    public var worker: WorkerStatus?

    public init(message: String, job: JobStatus? = nil, worker: WorkerStatus? = nil) {
        (self.message, self.job, self.worker) = (message, job, worker)
    }
}

/// Why a control was refused: sent as an `error` message (`code`, `message`), and by the dashboard as JSON with the
/// HTTP status `httpStatus`.
public struct ControlRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The caller's role may not do this (a worker key; a client on another client's job or on a worker).
        case forbidden
        /// No such job or worker (for a client: none of its own).
        case notFound = "not-found"
        /// Not in this state (pausing a finished job, retrying a running one).
        case conflict
        /// The request itself is wrong (a job verb without a job, a priority out of range).
        case invalid

        public var httpStatus: Int {
            switch self {
            case .forbidden: 403
            case .notFound: 404
            case .conflict: 409
            case .invalid: 400
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) { (self.code, self.message) = (code, message) }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Which jobs a listing shows (`stylefarm jobs --state … --owner …`, the dashboard's `/api/jobs?state=…&owner=…`).
public struct JobFilter: Sendable, Equatable {
    /// nil: every state.
    public var states: Set<JobState>?
    /// The owner's name (as the allowlist gives it); nil: everyone's.
    public var owner: String?

    public init(states: Set<JobState>? = nil, owner: String? = nil) { (self.states, self.owner) = (states, owner) }

    /// From comma-separated state names (`running,queued`); an unknown one is named in the error.
    public init(states text: String?, owner: String?) throws(ControlRefusal) {
        var states: Set<JobState>?
        if let text, !text.isEmpty {
            states = []
            for name in text.split(separator: ",") {
                guard let s = JobState(rawValue: String(name)) else {
                    throw ControlRefusal(.invalid, "unknown state '\(name)' (queued, running, done, failed, cancelled)")
                }
                states?.insert(s)
            }
        }
        self.init(states: states, owner: owner.flatMap { $0.isEmpty ? nil : $0 })
    }

    public func matches(_ job: JobStatus) -> Bool {
        (states?.contains(job.state) ?? true) && (owner.map { $0 == job.owner } ?? true)
    }
}
