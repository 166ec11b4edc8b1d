import FarmProtocol
import FarmScheduler
import Testing

/// The scheduler's rules, driven with a fake clock.
@Suite struct FarmSchedulerTests {
    func scheduler(credit: Int = 1, lease: Double = 10) -> FarmScheduler {
        var c = FarmScheduler.Config()
        c.credit = credit
        c.leaseSeconds = lease
        return FarmScheduler(config: c, epoch: "e")
    }

    func assigned(_ events: [FarmScheduler.Event]) -> [(worker: WorkerID, tile: Int, lease: LeaseToken)] {
        events.compactMap { if case let .assign(w, t, l) = $0 { (w, t.tile, l) } else { nil } }
    }

    @Test func tilesGoOneAtATimePerWorkerAndStagesFinish() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1, 1], [1]])
        #expect(assigned(s.assignments(now: 0)).isEmpty, "nothing runs before the stage starts")
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        s.workerReady(id: "b", name: "b", threads: 1, busy: 0, now: 0)
        let first = assigned(s.assignments(now: 0))
        #expect(first.map(\.worker) == ["a", "b"] && first.map(\.tile) == [0, 1])
        #expect(assigned(s.assignments(now: 0)).isEmpty, "credit 1: no second tile while one is out")
        let (v, ev) = s.complete(lease: first[0].lease, worker: "a", seconds: 2, now: 1)
        #expect(v == .accepted(.init(job: "j", stage: 0, tile: 0)) && ev.isEmpty)
        let second = assigned(s.assignments(now: 1))
        #expect(second.map(\.worker) == ["a"] && second.map(\.tile) == [2])
        _ = s.complete(lease: first[1].lease, worker: "b", seconds: 2, now: 2)
        let (_, done) = s.complete(lease: second[0].lease, worker: "a", seconds: 2, now: 2)
        #expect(done == [.stageFinished(job: "j", stage: 0)])
        #expect(s.counts(job: "j")?.tilesDone == 3 && s.counts(job: "j")?.workFraction == 0.75)
    }

    @Test func creditTwoKeepsTwoTilesInFlight() {
        var s = scheduler(credit: 2)
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 1, now: 0)
        #expect(assigned(s.assignments(now: 0)).count == 1, "one credit is held by a tile from before a reconnect")
        // That tile's result arrives under an unknown lease: rejected, and the credit comes back.
        #expect(
            s.complete(lease: "old-1", worker: "a", seconds: 1, now: 1).0
                != .accepted(.init(job: "j", stage: 0, tile: 0)))
        #expect(assigned(s.assignments(now: 1)).count == 1)
    }

    @Test func higherPriorityFirstThenOlder() {
        var s = scheduler()
        s.addJob(id: "low", name: "", priority: 10, work: [[1]])
        s.addJob(id: "old", name: "", priority: 60, work: [[1]])
        s.addJob(id: "new", name: "", priority: 60, work: [[1]])
        for j: JobID in ["low", "old", "new"] { _ = s.startStage(job: j, stage: 0, now: 0) }
        for w: WorkerID in ["a", "b", "c"] { s.workerReady(id: w, name: w.rawValue, threads: 1, busy: 0, now: 0) }
        let jobs = s.assignments(now: 0).compactMap { if case let .assign(_, t, _) = $0 { t.job } else { nil } }
        #expect(jobs == ["old", "new", "low"])
    }

    @Test func lapsedLeaseRequeuesAndTheLateResultIsRejected() {
        var s = scheduler(lease: 5)
        s.addJob(id: "j", name: "j", priority: 50, work: [[1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        s.workerReady(id: "b", name: "b", threads: 1, busy: 0, now: 0)
        let lease = assigned(s.assignments(now: 0))[0].lease
        #expect(s.progress(lease: lease, worker: "a", now: 4) == .accepted(.init(job: "j", stage: 0, tile: 0)))
        for t in stride(from: 0.5, through: 9.5, by: 0.5) {  // both keep heartbeating
            _ = s.heard(from: "a", now: t)
            _ = s.heard(from: "b", now: t)
        }
        #expect(s.tick(now: 8.5).isEmpty, "progress at 4 s renewed the lease to 9 s")
        let ev = s.tick(now: 9.5)
        #expect(ev.contains { if case .requeued = $0 { true } else { false } })
        let again = assigned(s.assignments(now: 9.5))
        #expect(again.map(\.worker) == ["b"], "the tile goes to a worker that has not failed it")
        #expect(
            s.complete(lease: lease, worker: "a", seconds: 1, now: 10).0
                != .accepted(.init(job: "j", stage: 0, tile: 0)))
        #expect(s.progress(lease: lease, worker: "a", now: 10) != .accepted(.init(job: "j", stage: 0, tile: 0)))
        #expect(
            s.complete(lease: again[0].lease, worker: "b", seconds: 1, now: 10).1 == [
                .stageFinished(job: "j", stage: 0)
            ])
    }

    @Test func silentWorkerIsLostAndItsTileRequeued() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        _ = s.assignments(now: 0)
        #expect(s.tick(now: 2.9).isEmpty)
        let ev = s.tick(now: 3.1)
        #expect(ev.first == .workerLost(worker: "a", name: "a", host: nil, reason: "silent for 3 s") && ev.count == 2)
        #expect(s.waiting(job: "j") == "waiting for workers: none connected", "a job without workers waits…")
        #expect(!ev.contains { if case .jobFailed = $0 { true } else { false } }, "…it does not fail")
    }

    @Test func workerBlocklistedAfterThreeFailuresAndTileFailsTheJobOnThreeWorkers() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1, 1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        var events: [FarmScheduler.Event] = []
        for _ in 0 ..< 3 {
            let l = assigned(s.assignments(now: 0))[0].lease
            events += s.failed(lease: l, worker: "a", reason: "boom", now: 0).1
        }
        #expect(events.contains(.workerBlocklisted(worker: "a", job: "j")))
        #expect(assigned(s.assignments(now: 0)).isEmpty)
        #expect(s.waiting(job: "j") == "waiting for workers: every connected worker is blocklisted for this job")
        // Tile 0 failed on a; failing it on b and c fails the job with a reason.
        var last: [FarmScheduler.Event] = []
        for w: WorkerID in ["b", "c"] {
            s.workerReady(id: w, name: w.rawValue, threads: 1, busy: 0, now: 0)
            let a = assigned(s.assignments(now: 0)).first { $0.tile == 0 }!
            last = s.failed(lease: a.lease, worker: w, reason: "out of memory", now: 0).1
        }
        s.workerReady(id: "d", name: "d", threads: 1, busy: 0, now: 0)
        #expect(
            assigned(s.assignments(now: 0)).isEmpty && s.waiting(job: "j") == nil,
            "the failed job is closed: nothing of it is leased")
        #expect(
            last.contains {
                if case let .jobFailed(_, why) = $0 {
                    why.contains("failed on 3 workers") && why.contains("out of memory")
                } else {
                    false
                }
            })
    }

    @Test func cancelRevokesLeases() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        let l = assigned(s.assignments(now: 0))[0].lease
        s.close(job: "j")
        #expect(
            s.complete(lease: l, worker: "a", seconds: 1, now: 2).0 != .accepted(.init(job: "j", stage: 0, tile: 0)))
        #expect(assigned(s.assignments(now: 2)).isEmpty && s.waiting(job: "j") == nil)
    }

    @Test func restoredStageSkipsFinishedTiles() {
        var s = scheduler(credit: 4)
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1, 1]])
        #expect(s.startStage(job: "j", stage: 0, done: [0, 2], now: 0).isEmpty)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        #expect(assigned(s.assignments(now: 0)).map(\.tile) == [1])
        var t = scheduler()
        t.addJob(id: "j", name: "j", priority: 50, work: [[1, 1]])
        #expect(t.startStage(job: "j", stage: 0, done: [0, 1], now: 0) == [.stageFinished(job: "j", stage: 0)])
    }
}
