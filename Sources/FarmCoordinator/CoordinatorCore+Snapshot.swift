import FarmMonitor
import FarmProtocol
import FarmScheduler

/// What the dashboard shows, computed from the core's state alone.
extension CoordinatorCore {
    /// Each job's status, its current stage's tile grid (with live progress), throughput and ETA; the workers.
    /// `time` is left 0: the shell stamps it.
    /// Jobs' statuses as the journal holds them: a tile accepted but still being stored is not counted as done
    /// until it is, so a status never promises a tile that a kill -9 would lose.
    func jobStatuses(now t: Double) -> [JobStatus] {
        scheduler.jobStatuses(now: t).map { status in
            var status = status
            status.tilesDone -= jobs[status.id]?.storing.count ?? 0
            return status
        }
    }

    mutating func snapshot(now t: Double) -> FarmSnapshot {
        var views: [JobView] = []
        for status in jobStatuses(now: t) {
            guard let job = jobs[status.id], !job.stages.isEmpty else { continue }
            jobs[status.id]?.progress = job.progress.filter { scheduler.lease($0.key) != nil }
            let stage = job.stages[min(status.stage, job.stages.count - 1)]
            let states = scheduler.tileStates(job: status.id)
            let tiles = stage.plan.tiles.map { tile -> TileView in
                let r = tile.core
                var v = TileView(index: tile.index, x: r.x, y: r.y, width: r.width, height: r.height, state: "pending")
                if status.state == .done || states?.done.contains(tile.index) == true {
                    v.state = "done"
                } else if let lease = states?.leased[tile.index] {
                    v.state = "rendering"
                    v.worker = lease.worker
                    if let p = job.progress[lease.token] { (v.iteration, v.iterations, v.loss) = (p.iteration, p.iterations, p.loss) }
                }
                return v
            }
            let minutes = status.elapsed / 60
            views.append(JobView(status: status, level: stage.level, levels: (job.stages.last?.level ?? 0) + 1,
                                 pass: stage.level == 0 ? "coarse" : stage.pass == 0 ? "tiles" : "shifted tiles",
                                 width: stage.width, height: stage.height, tiles: tiles,
                                 tilesPerMinute: minutes > 0 ? Double(status.tilesDone) / minutes : 0,
                                 eta: status.workFraction > 0 && !status.state.isFinal
                                     ? status.elapsed / status.workFraction * (1 - status.workFraction) : nil))
        }
        return FarmSnapshot(time: 0, jobs: views, workers: scheduler.workerStatuses(now: t))
    }
}
