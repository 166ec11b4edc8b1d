import FarmMonitor
import FarmProtocol
import FarmScheduler

/// Steering by hand (`ControlBody`): one implementation for the `control` and `cancel` commands and the dashboard's
/// buttons. A client steers its own jobs; an admin every job and the workers; a worker nothing.
extension CoordinatorCore {
    /// A control from the wire, answered to `peer`: `controlled` (or, for the older `cancel`, `statusReply`), or an
    /// `error` with the refusal's code, counted.
    mutating func controlMessage(
        _ body: ControlBody, from peer: String, caller: Caller, now t: Double, asCancel: Bool = false
    ) -> [Action] {
        let (outcome, actions) = control(body, caller: caller, now: t)
        switch outcome {
        case let .success(done):
            let reply =
                asCancel
                ? StatusReplyBody(
                    jobs: body.job.flatMap { status(job: $0, now: t) }.map { [$0] } ?? [],
                    workers: workerStatuses(for: caller, now: t)
                ).message
                : Message(.controlled, done)
            return actions + send(peer, reply, now: t)
        case let .failure(refusal):
            return actions + [
                .count(.messageDropped),
                .log(
                    .warning,
                    "\(body.verb.rawValue) refused for \(caller.role.rawValue) '\(caller.name)': \(refusal.message)",
                    ["peer": "\(peer)"])
            ]
                + send(peer, Message(.error, ErrorBody(code: refusal.code.errorCode, message: refusal.message)), now: t)
        }
    }

    /// Performs a control for `caller`. Another client's job is answered as unknown, on the wire and on the dashboard
    /// alike, where a client sees only its own jobs.
    mutating func control(_ c: ControlBody, caller: Caller, now t: Double) -> (
        Result<ControlledBody, ControlRefusal>, [Action]
    ) {
        var actions: [Action] = []
        do {
            let done =
                try ControlBody.Verb.jobVerbs.contains(c.verb) && c.worker == nil
                ? controlJob(c, caller: caller, now: t, actions: &actions)
                : controlWorker(c, caller: caller, now: t)
            placementDue = true
            return (
                .success(done),
                actions + [.log(.notice, "\(caller.role.rawValue) '\(caller.name)': \(done.message)", [:])]
            )
        } catch {
            return (.failure(error), [])
        }
    }

    mutating func controlJob(_ c: ControlBody, caller: Caller, now t: Double, actions: inout [Action])
        throws(ControlRefusal) -> ControlledBody
    {
        guard caller.role != .worker else { throw ControlRefusal(.forbidden, "a worker key may not steer jobs") }
        guard let id = c.job, !id.rawValue.isEmpty else {
            throw ControlRefusal(.invalid, "\(c.verb.rawValue) needs a job")
        }
        guard let job = jobs[id] else { throw ControlRefusal(.notFound, "no job \(id)") }
        guard caller.role.seesEveryJob || job.owner == caller.key else {
            throw ControlRefusal(.notFound, "no job \(id)")
        }
        let who = "\(caller.role.rawValue) '\(caller.name)'"
        let message: String
        switch c.verb {
        case .cancel: message = try cancel(job, now: t, actions: &actions)
        case .pause, .resume:
            let pause = c.verb == .pause
            guard !job.phase.isFinal else {
                throw ControlRefusal(
                    .conflict, "job \(id) has ended (\(jobState(job).rawValue)): nothing to \(c.verb.rawValue)")
            }
            guard scheduler.isPaused(job: id) != pause else {
                throw ControlRefusal(.conflict, "job \(id) is \(pause ? "already" : "not") paused")
            }
            _ = scheduler.setPaused(job: id, pause)
            actions.append(persistControl(id))
            message =
                pause
                ? "job \(id) paused: no tile is leased until it is resumed; the tiles out finish" : "job \(id) resumed"
        case .priority:
            guard let p = c.priority, JobSpec.Limits.priority.contains(p) else {
                throw ControlRefusal(
                    .invalid,
                    "priority must be in \(JobSpec.Limits.priority), got \(c.priority.map(String.init) ?? "none")")
            }
            _ = scheduler.setPriority(job: id, p)
            actions.append(persistControl(id))
            message = "job \(id) priority \(p)"
        case .retry: message = try retry(job, now: t, actions: &actions)
        case .requeue:
            guard case .running = job.phase else {
                throw ControlRefusal(.conflict, "job \(id) is not rendering tiles (\(jobState(job).rawValue))")
            }
            let tiles = scheduler.forgetTileFailures(job: id)
            guard !tiles.isEmpty else {
                throw ControlRefusal(.conflict, "no tile of job \(id)'s current stage has failed")
            }
            message =
                "job \(id): \(tiles.count) failed tile(s) of the current stage get fresh attempts (\(tiles.map(String.init).joined(separator: ", ")))"
        case .drain, .clearBlocklist:
            throw ControlRefusal(.invalid, "\(c.verb.rawValue) is for a worker")
        }
        let wallTime = wall(t)
        jobs[id]?.log(JobEvent(time: wallTime, kind: "control", message: "\(message), by \(who)"))
        return ControlledBody(message: message, job: status(job: id, now: t))
    }

    /// Cancels a job that has not ended; returns what the control says.
    mutating func cancel(_ job: Job, now t: Double, actions: inout [Action]) throws(ControlRefusal) -> String {
        let id = job.id
        guard !job.phase.isFinal else {
            throw ControlRefusal(.conflict, "job \(id) has already ended (\(jobState(job).rawValue))")
        }
        scheduler.close(job: id)
        let wallTime = wall(t)
        jobs[id]?.end(.cancelled, now: t, wall: wallTime)
        actions += persistState(id, now: t) + [.forget(job: id, blobs: jobBlobs(id))] + jobEndNotice(id, now: t)
        return "job \(id) cancelled"
    }

    /// Reopens a failed or cancelled job at the stage the scheduler kept; returns what the control says.
    mutating func retry(_ job: Job, now t: Double, actions: inout [Action]) throws(ControlRefusal) -> String {
        let id = job.id
        guard job.phase.isFinal, job.phase != .done else {
            throw ControlRefusal(
                .conflict, "only a failed or cancelled job can be retried; job \(id) is \(jobState(job).rawValue)")
        }
        guard !job.stages.isEmpty, scheduler.reopen(job: id), let stage = scheduler.stage(of: id) else {
            throw ControlRefusal(.conflict, "job \(id) cannot be retried: it could not be loaded")
        }
        jobs[id]?.phase = .preparing(stage: stage)
        jobs[id]?.ended = nil
        jobs[id]?.finished = nil
        jobs[id]?.stageStarted = nil
        actions += persistState(id, now: t) + [.prepare(job: id, stage: stage)]
        return "job \(id) retried from stage \(stage)"
    }

    mutating func controlWorker(_ c: ControlBody, caller: Caller, now t: Double) throws(ControlRefusal)
        -> ControlledBody
    {
        guard ControlBody.Verb.workerVerbs.contains(c.verb) else {
            throw ControlRefusal(.invalid, "\(c.verb.rawValue) is for a job")
        }
        guard caller.role.steersWorkers else {
            throw ControlRefusal(.forbidden, "only an admin key may \(c.verb.rawValue) workers")
        }
        guard let key = c.worker, !key.isEmpty else {
            throw ControlRefusal(.invalid, "\(c.verb.rawValue) needs a worker")
        }
        let matches = scheduler.workers(named: key)
        guard let id = matches.first else { throw ControlRefusal(.notFound, "no live worker \(key)") }
        guard matches.count == 1 else {
            throw ControlRefusal(
                .invalid,
                "\(matches.count) workers are named \(key) (\(matches.map(\.rawValue).joined(separator: ", "))): give its id"
            )
        }
        let draining = workerStatuses(for: caller, now: t).first { $0.id == id }?.draining == true
        let message: String
        switch c.verb {
        case .drain, .resume:
            let drain = c.verb == .drain
            guard draining != drain else {
                throw ControlRefusal(.conflict, "worker \(key) is \(drain ? "already" : "not") draining")
            }
            _ = scheduler.setDraining(worker: id, drain)
            message =
                drain ? "worker \(key) draining: it finishes its tiles and takes no more" : "worker \(key) resumed"
        default:
            let cleared = scheduler.clearBlocklist(worker: id) ?? []
            message =
                cleared.isEmpty
                ? "worker \(key) was on no blocklist; its failures are forgotten"
                : "worker \(key) cleared from the blocklists of \(cleared.map(\.rawValue).joined(separator: ", "))"
        }
        return ControlledBody(message: message, worker: workerStatuses(for: caller, now: t).first { $0.id == id })
    }

    func persistControl(_ id: JobID) -> Action {
        .persistControl(job: id, priority: scheduler.priority(of: id) ?? 0, paused: scheduler.isPaused(job: id))
    }
}
