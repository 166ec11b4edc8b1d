import FarmMonitor
import FarmProtocol
import FarmScheduler
import Logging

/// A job's lifecycle: admitted, preparing, running, blending, writing; done, failed or cancelled.
extension CoordinatorCore {
    /// A job the journal holds: registered with the scheduler (each tile's work and planned memory), then prepared
    /// from the stage the journal says is next, unless it has ended.
    mutating func admitted(_ info: StoredJobInfo, replyTo: String?, now: Double) -> [Action] {
        let stages = info.stages
        scheduler.addJob(
            id: info.id, name: info.spec.name, priority: info.priority ?? info.spec.priority,
            work: stages.map { s in s.plan.tiles.map { Double($0.render.area * s.iterations) } },
            memory: info.memory.map(\.count) == stages.map(\.plan.tiles.count) ? info.memory : [], stage: info.stage)
        var job = Job(
            id: info.id, owner: info.owner, spec: info.spec, stages: stages, phase: .preparing(stage: info.stage))
        (job.submitted, job.started, job.finished) = (info.submitted ?? wall(now), info.started, info.finished)
        job.ownerName = info.ownerName
        if info.paused { _ = scheduler.setPaused(job: info.id, true) }
        var actions: [Action] = []
        if let replyTo {
            let size = "\(info.spec.poster.width)x\(info.spec.poster.height)"
            actions = [
                .log(.info, "submitted '\(info.spec.name)': \(size)", ["job": "\(info.id)"]),
                .send(peer: replyTo, Message(.submitted, SubmittedBody(job: info.id)))
            ]
        }
        switch info.state {
        case .done:
            job.end(.done, now: now, wall: wall(now))
            scheduler.close(job: info.id)
        case .failed, .cancelled:
            let why = info.detail ?? info.state.rawValue
            job.end(info.state == .cancelled ? .cancelled : .failed(why), now: now, wall: wall(now))
            scheduler.close(job: info.id)
        case .queued, .running:
            if let problem = info.problem {
                jobs[info.id] = job
                return actions + fail(info.id, reason: "cannot be loaded: \(problem)", now: now)
            }
            guard (0 ..< stages.count).contains(info.stage) else {
                jobs[info.id] = job
                return actions
                    + fail(
                        info.id, reason: "the journal's stage \(info.stage) is past the job's \(stages.count) stages",
                        now: now)
            }
            actions.append(.prepare(job: info.id, stage: info.stage))
        }
        jobs[info.id] = job
        return actions
    }

    mutating func prepared(_ id: JobID, stage: Int, blobs prepared: Prepared, done: Set<Int>, now: Double) -> [Action] {
        guard let job = jobs[id], job.phase == .preparing(stage: stage) else { return [] }
        var actions: [Action] = []
        if let old = job.reference, old != prepared.reference {
            blobs.remove(old)
            actions.append(.forget(job: id, blobs: [old]))
        }
        blobs.insert(prepared.targets)
        if let reference = prepared.reference { blobs.insert(reference) }
        jobs[id]?.targets = prepared.targets
        jobs[id]?.reference = prepared.reference
        jobs[id]?.phase = .running(stage: stage)
        jobs[id]?.storing = []
        jobs[id]?.stageComplete = false
        jobs[id]?.progress = [:]
        jobs[id]?.stageStarted = now
        let wallTime = wall(now)
        jobs[id]?.started = job.started ?? wallTime
        jobs[id]?.log(
            JobEvent(
                time: wallTime, kind: "stage", stage: stage,
                message: "stage \(stage) started: \(job.stages[stage].plan.tiles.count) tiles"
                    + (done.isEmpty ? "" : ", \(done.count) already done")))
        actions += persistState(id, now: now)
        if !done.isEmpty {
            actions.append(.log(.info, "resumes stage \(stage) with \(done.count) finished tiles", ["job": "\(id)"]))
        }
        return actions + schedule(scheduler.startStage(job: id, stage: stage, done: done, now: now), now: now)
    }

    mutating func tileStored(_ id: JobID, stage: Int, tile: Int, now: Double) -> [Action] {
        guard jobs[id]?.phase == .running(stage: stage), jobs[id]?.storing.remove(tile) != nil else { return [] }
        return blendIfStored(id, stage: stage)
    }

    /// Blends a stage whose tiles are all accepted and stored.
    mutating func blendIfStored(_ id: JobID, stage: Int) -> [Action] {
        guard let job = jobs[id], job.phase == .running(stage: stage), job.stageComplete, job.storing.isEmpty else {
            return []
        }
        jobs[id]?.phase = .blending(stage: stage)
        return [.blend(job: id, stage: stage, last: stage + 1 == job.stages.count)]
    }

    mutating func blended(_ id: JobID, stage: Int, next: Prepared?, now: Double) -> [Action] {
        guard let job = jobs[id], job.phase == .blending(stage: stage) else { return [] }
        guard let next, stage + 1 < job.stages.count else {
            jobs[id]?.phase = .writing
            return [.write(job: id)]
        }
        jobs[id]?.phase = .preparing(stage: stage + 1)
        return prepared(id, stage: stage + 1, blobs: next, done: [], now: now)
    }

    /// Fails a job that has not ended; its leases are revoked, its state persisted, its blobs forgotten.
    mutating func fail(_ id: JobID, reason: String, now: Double) -> [Action] {
        guard let job = jobs[id], !job.phase.isFinal else { return [] }
        let wallTime = wall(now)
        jobs[id]?.end(.failed(reason), now: now, wall: wallTime)
        jobs[id]?.log(JobEvent(time: wallTime, kind: "state", message: "failed: \(reason)"))
        scheduler.close(job: id)
        return [.log(.error, "failed: \(reason)", ["job": "\(id)"])] + persistState(id, now: now)
            + [.forget(job: id, blobs: jobBlobs(id))] + jobEndNotice(id, now: now)
    }

    /// The journal's copy of a job's state: its state and detail as `status` derives them from its phase, at `wall(now)`.
    func persistState(_ id: JobID, now: Double) -> [Action] {
        guard let job = jobs[id] else { return [] }
        return [.persistState(job: id, jobState(job), detail: jobDetail(job), at: wall(now))]
    }

    /// Unix seconds at core time `now`.
    func wall(_ now: Double) -> Double { now + config.wallClockOffset }

    /// The blobs only this job uses (no other job that has not ended shares its targets).
    mutating func jobBlobs(_ id: JobID) -> [String] {
        guard let job = jobs[id] else { return [] }
        let mine = [job.targets, job.reference].compactMap { $0 }
        let shared = Set(
            jobs.values.filter { $0.id != id && !$0.phase.isFinal }.flatMap {
                [$0.targets, $0.reference].compactMap { $0 }
            })
        let gone = mine.filter { !shared.contains($0) }
        gone.forEach { blobs.remove($0) }
        return gone
    }
}

/// Retention: ended jobs are forgotten, with their files, `Config.retention` seconds after they ended.
extension CoordinatorCore {
    mutating func pruneEndedJobs(now: Double) -> [Action] {
        guard let retention = config.retention else { return [] }
        let expired = jobs.values.filter { job in job.ended.map { now - $0 >= retention } ?? false }.map(\.id).sorted()
        var actions: [Action] = []
        for id in expired {
            jobs[id] = nil
            scheduler.forget(job: id)
            actions += [
                .prune(job: id),
                .log(.info, "pruned: ended more than \(Int(saturating: retention)) s ago", ["job": "\(id)"])
            ]
        }
        return actions
    }
}
