import FarmMonitor
import FarmProtocol
import FarmScheduler
import StyleCore

/// A job's status, derived once, here, from its phase (the only job state) and the scheduler's counts.
extension CoordinatorCore.Phase {
    /// The stage it is preparing, running or blending; nil once it writes its output or has ended.
    public var stage: Int? {
        switch self {
        case let .preparing(stage), let .running(stage), let .blending(stage): stage
        case .writing, .done, .failed, .cancelled: nil
        }
    }
}

extension CoordinatorCore {
    /// What a job's phase means on the wire: queued until its first stage is prepared (again, after a retry), running
    /// while it prepares, renders, blends or writes, then how it ended.
    public func jobState(_ job: Job) -> JobState {
        switch job.phase {
        case .preparing: job.stageStarted == nil ? .queued : .running
        case .running, .blending, .writing: .running
        case .done: .done
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }

    /// Why a job ended, or what it waits for: "preparing" before a stage is ready, else the scheduler's `waiting`.
    public func jobDetail(_ job: Job) -> String? {
        switch job.phase {
        case let .failed(why): why
        case .cancelled: "cancelled"
        case .done: nil
        case .preparing where job.stageStarted == nil: "preparing"
        case .preparing, .running, .blending, .writing: scheduler.waiting(job: job.id)
        }
    }

    /// A job's status as the journal holds it: a tile accepted but still being stored is not counted as done until it
    /// is, so a status never promises a tile that a kill -9 would lose. Its times are the wall clock's (`wall`): the
    /// elapsed time runs from when it first ran to when it ended (or now).
    public func status(job id: JobID, now t: Double) -> JobStatus? {
        guard let job = jobs[id], let c = scheduler.counts(job: id) else { return nil }
        let done = job.phase == .done
        var status = JobStatus(
            id: id, name: job.spec.name, priority: c.priority, state: jobState(job), detail: jobDetail(job),
            stage: c.stage, stages: c.stages, tilesDone: done ? c.tilesTotal : c.tilesDone - job.storing.count,
            tilesTotal: c.tilesTotal, workFraction: done ? 1 : c.workFraction,
            elapsed: job.started.map { max((job.finished ?? wall(t)) - $0, 0) } ?? 0)
        status.paused = c.paused ? true : nil
        (status.owner, status.submitted, status.started, status.finished) = (
            job.ownerName, job.submitted, job.started, job.finished
        )
        return status
    }

    /// Every job's status, oldest first.
    public func jobStatuses(now t: Double) -> [JobStatus] {
        scheduler.jobOrder.compactMap { status(job: $0, now: t) }
    }
}

/// What the dashboard shows, computed from the core's state alone.
extension CoordinatorCore {
    /// Each job's status, its current stage's tile grid (with live progress), throughput and ETA; the workers.
    /// `time` is left 0: the shell stamps it.
    public mutating func snapshot(now t: Double) -> FarmSnapshot {
        var views: [JobView] = []
        for status in jobStatuses(now: t) {
            guard let job = jobs[status.id], !job.stages.isEmpty else { continue }
            jobs[status.id]?.progress = job.progress.filter { scheduler.lease($0.key) != nil }
            let index = min(status.stage, job.stages.count - 1), stage = job.stages[index]
            let minutes = status.elapsed / 60
            var view = JobView(
                status: status, level: stage.level, levels: (job.stages.last?.level ?? 0) + 1,
                pass: Self.pass(of: stage), width: stage.width, height: stage.height,
                tiles: tileViews(status.id, stage: index),
                tilesPerMinute: minutes > 0 ? Double(status.tilesDone) / minutes : 0,
                eta: status.workFraction > 0 && !status.state.isFinal
                    ? status.elapsed / status.workFraction * (1 - status.workFraction) : nil)
            if !job.phase.isFinal, let since = job.stageStarted { view.stageElapsed = max(t - since, 0) }
            views.append(view)
        }
        return FarmSnapshot(time: 0, jobs: views, workers: workerStatuses(for: .insecure, now: t))
    }

    static func pass(of stage: PosterStage) -> String {
        stage.level == 0 ? "coarse" : stage.pass == 0 ? "tiles" : "shifted tiles"
    }

    /// A stage's tiles: done (a past stage, or finished in this one), rendering (with the live lease's worker,
    /// iteration and loss) or pending, each with its record (attempts; worker, seconds and final loss once done).
    func tileViews(_ id: JobID, stage index: Int) -> [TileView] {
        guard let job = jobs[id], job.stages.indices.contains(index) else { return [] }
        let states = scheduler.tileStates(job: id)
        let current = states?.stage ?? 0
        return job.stages[index].plan.tiles.map { tile -> TileView in
            let r = tile.core, record = job[index, tile.index]
            var v = TileView(index: tile.index, x: r.x, y: r.y, width: r.width, height: r.height, state: "pending")
            (v.attempts, v.worker, v.seconds, v.loss) = (
                record.attempts > 0 ? record.attempts : nil, record.worker, record.seconds, record.loss
            )
            if job.phase == .done || index < current || (index == current && states?.done.contains(tile.index) == true)
            {
                v.state = "done"
            } else if index == current, let lease = states?.leased[tile.index] {
                v.state = "rendering"
                (v.worker, v.seconds) = (scheduler.name(ofWorker: lease.worker) ?? lease.worker.rawValue, nil)
                if let p = job.progress[lease.token] {
                    (v.iteration, v.iterations, v.loss) = (p.iteration, p.iterations, p.loss)
                }
            }
            return v
        }
    }

    /// A job's page: its status and settings, its stages, the tiles of `stage` (default: the current one) and its
    /// farm log. Nil for an unknown job.
    public func detail(job id: JobID, stage: Int?, now t: Double) -> JobDetail? {
        guard let job = jobs[id], let status = status(job: id, now: t) else { return nil }
        let current = job.phase == .done ? job.stages.count : status.stage
        let summaries = job.stages.enumerated().map { i, s in
            StageSummary(
                index: i, level: s.level, pass: Self.pass(of: s), width: s.width, height: s.height,
                iterations: s.iterations,
                tiles: s.plan.tiles.count, state: i < current ? "done" : i == current ? "current" : "waiting")
        }
        let shown = min(max(stage ?? status.stage, 0), max(job.stages.count - 1, 0))
        return JobDetail(
            status: status, spec: job.spec, stages: summaries, stage: shown,
            tiles: tileViews(id, stage: shown), events: job.events)
    }

    /// One tile with its loss curve; nil when the job, stage or tile is unknown.
    public func tileDetail(job id: JobID, stage: Int, tile: Int, now t: Double) -> TileDetail? {
        guard let job = jobs[id], job.stages.indices.contains(stage),
            job.stages[stage].plan.tiles.indices.contains(tile)
        else { return nil }
        let views = tileViews(id, stage: stage)
        return TileDetail(job: id, stage: stage, tile: views[tile], curve: job[stage, tile].curve)
    }

    /// The current stage of a running job and its tiles that are accepted and stored (their files are complete).
    public func landedTiles(job id: JobID) -> (stage: Int, tiles: [Int])? {
        guard let job = jobs[id], case let .running(stage) = job.phase, let states = scheduler.tileStates(job: id),
            states.stage == stage
        else { return nil }
        return (stage, states.done.subtracting(job.storing).sorted())
    }
}
