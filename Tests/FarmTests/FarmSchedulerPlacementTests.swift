import FarmProtocol
import FarmScheduler
import Testing

/// Where tiles go: memory limits, speeds, and straggler copies (Docs/protocol.md, "Scheduling").
@Suite struct FarmSchedulerPlacementTests {
    func scheduler(copies: Bool = true) -> FarmScheduler {
        var c = FarmScheduler.Config()
        c.leaseSeconds = 100
        c.heartbeat = 100
        c.stragglerCopies = copies
        return FarmScheduler(config: c, epoch: "e")
    }

    func assigned(_ events: [FarmScheduler.Event]) -> [(worker: WorkerID, tile: Int, lease: LeaseToken)] {
        events.compactMap { if case let .assign(w, t, l) = $0 { (w, t.tile, l) } else { nil } }
    }

    static let mib = 1 << 20

    @Test func noWorkerGetsATileBeyondItsMemoryLimit() {
        var s = scheduler()
        s.addJob(
            id: "j", name: "j", priority: 50, work: [[1, 1, 1, 1]],
            memory: [[100 * Self.mib, 900 * Self.mib, 200 * Self.mib, 800 * Self.mib]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "small", name: "small", threads: 1, busy: 0, memoryLimit: 300 * Self.mib, now: 0)
        var got: [WorkerID: [Int]] = [:]
        var now = 0.0
        var out = assigned(s.assignments(now: now))
        #expect(out.map(\.tile) == [0])
        // Alone, the small worker renders every tile it can hold and leaves the others waiting, saying why.
        while !out.isEmpty {
            for a in out {
                got[a.worker, default: []].append(a.tile)
                now += 1
                _ = s.complete(lease: a.lease, worker: a.worker, seconds: 1, now: now)
            }
            out = assigned(s.assignments(now: now))
        }
        #expect(got["small"] == [0, 2])
        let detail = s.waiting(job: "j") ?? ""
        #expect(detail.contains("needs 900 MiB") && detail.contains("300 MiB"), "\(detail)")
        // A large worker joins and takes the rest.
        s.workerReady(id: "large", name: "large", threads: 1, busy: 0, memoryLimit: 2048 * Self.mib, now: now)
        #expect(assigned(s.assignments(now: now)).map(\.tile) == [1])
    }

    @Test func fasterWorkersFirstAndTheLastTilesGoWhereTheyFinishFirst() {
        var s = scheduler(copies: false)
        s.addJob(id: "j", name: "j", priority: 50, work: [[40, 40, 40, 40, 40, 40]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a-slow", name: "slow", threads: 1, busy: 0, speed: 1, now: 0)
        s.workerReady(id: "b-fast", name: "fast", threads: 1, busy: 0, speed: 4, now: 0)
        // Many tiles left: both work, the fast one served first.
        #expect(assigned(s.assignments(now: 0)).map(\.worker) == ["b-fast", "a-slow"])
        // Simulate: each worker takes 40/speed seconds per tile; count who renders what.
        var running = s.workerStatuses(now: 0).flatMap { w in
            w.leases.map { (w.id, $0, w.id == "b-fast" ? 10.0 : 40.0) }
        }
        var count: [WorkerID: Int] = ["a-slow": 1, "b-fast": 1]
        var now = 0.0
        while let next = running.min(by: { $0.2 < $1.2 }) {
            running.removeAll { $0.1 == next.1 }
            now = next.2
            _ = s.complete(lease: next.1, worker: next.0, seconds: next.0 == "b-fast" ? 10 : 40, now: now)
            for a in assigned(s.assignments(now: now)) {
                count[a.worker, default: 0] += 1
                running.append((a.worker, a.lease, now + (a.worker == "b-fast" ? 10 : 40)))
            }
        }
        // The slow worker's one tile ends at 40 s; the fast one renders the other five by 50 s. Had the slow
        // worker taken the last tile at 40 s, the stage would have ended at 80 s.
        #expect(count == ["a-slow": 1, "b-fast": 5])
        #expect(now == 50)
        #expect(s.counts(job: "j")?.tilesDone == 6)
    }

    @Test func measuredSpeedReplacesTheReportedOne() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[100, 100, 100]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, speed: 50, now: 0)
        let first = assigned(s.assignments(now: 0))
        _ = s.complete(lease: first[0].lease, worker: "a", seconds: 10, now: 10)  // 10 px·it/s, not 50
        #expect(s.workerStatuses(now: 10).first?.speed == 10)
    }

    /// A worker that claims a huge speed in `ready` cannot outrank one measured on the farm: until its own first
    /// result, its claim is capped at the fastest measured speed, and ties go by id.
    @Test func aReportedSpeedIsCappedByTheFastestMeasuredOne() {
        var s = scheduler(copies: false)
        s.addJob(id: "j", name: "j", priority: 50, work: [[100, 100, 100, 100]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        let first = assigned(s.assignments(now: 0))
        _ = s.complete(lease: first[0].lease, worker: "a", seconds: 10, now: 10)  // a: 10 px·it/s, measured
        s.workerReady(id: "z-liar", name: "liar", threads: 1, busy: 0, speed: 1e300, now: 10)
        #expect(s.workerStatuses(now: 10).first { $0.id == "z-liar" }?.speed == 10, "the claim is capped at 10")
        #expect(
            assigned(s.assignments(now: 10)).map(\.worker) == ["a", "z-liar"],
            "the measured worker first (a tie, by id)")
    }

    @Test func anIdleWorkerGetsACopyOfTheLastRunningTileAndTheFirstResultWins() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, now: 0)
        s.workerReady(id: "b", name: "b", threads: 1, busy: 0, now: 0)
        let first = assigned(s.assignments(now: 0))
        #expect(first.map(\.worker) == ["a", "b"] && first.map(\.tile) == [0, 1])
        _ = s.complete(lease: first[1].lease, worker: "b", seconds: 2, now: 2)
        // b rendered its tile in 2 s (measured from its lease, whatever it reports). At 2 s a, of unknown speed,
        // may finish as soon as a copy would; at 5 s a still renders tile 0 (expected at 10 s at best) and b,
        // idle with nothing pending, gets a copy.
        #expect(assigned(s.assignments(now: 2)).isEmpty)
        let copy = assigned(s.assignments(now: 5))
        #expect(copy.map(\.worker) == ["b"] && copy.map(\.tile) == [0])
        #expect(s.lease(copy[0].lease)?.copy == true)
        s.workerReady(id: "c", name: "c", threads: 1, busy: 0, now: 5)
        #expect(assigned(s.assignments(now: 5)).isEmpty, "at most two leases per tile")
        // The copy finishes first: accepted, the stage is done, and a's lease is revoked…
        let (v, events) = s.complete(lease: copy[0].lease, worker: "b", seconds: 3, now: 8)
        #expect(v == .accepted(.init(job: "j", stage: 0, tile: 0)))
        #expect(
            events == [
                .revoked(worker: "a", tile: .init(job: "j", stage: 0, tile: 0), lease: first[0].lease),
                .stageFinished(job: "j", stage: 0)
            ])
        // …so its late result is rejected.
        if case .accepted = s.complete(lease: first[0].lease, worker: "a", seconds: 9, now: 9).0 {
            Issue.record("late copy accepted")
        }
        #expect(s.counts(job: "j")?.tilesDone == 2)
    }

    @Test func aLostCopyLeavesTheTileToTheOtherLease() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        for w: WorkerID in ["a", "b"] { s.workerReady(id: w, name: w.rawValue, threads: 1, busy: 0, now: 0) }
        let first = assigned(s.assignments(now: 0))
        _ = s.complete(lease: first[1].lease, worker: "b", seconds: 2, now: 2)
        let copy = assigned(s.assignments(now: 5))
        #expect(copy.count == 1)
        let events = s.remove(worker: "b", reason: "test", now: 6)
        #expect(events.contains { if case .requeued = $0 { true } else { false } })
        // Tile 0 is still running on a, so it is not pending: a third worker gets nothing new…
        s.workerReady(id: "c", name: "c", threads: 1, busy: 0, now: 6)
        let again = assigned(s.assignments(now: 6))
        #expect(
            again.map(\.worker) == ["c"] && again.map(\.tile) == [0] && s.lease(again[0].lease)?.copy == true,
            "only another copy of the running tile")
        // …and a's result completes the stage.
        let (_, done) = s.complete(lease: first[0].lease, worker: "a", seconds: 7, now: 7)
        #expect(done.contains(.stageFinished(job: "j", stage: 0)))
    }

    @Test func noCopiesWhenSwitchedOff() {
        var s = scheduler(copies: false)
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        for w: WorkerID in ["a", "b"] { s.workerReady(id: w, name: w.rawValue, threads: 1, busy: 0, now: 0) }
        let first = assigned(s.assignments(now: 0))
        _ = s.complete(lease: first[1].lease, worker: "b", seconds: 5, now: 5)
        #expect(assigned(s.assignments(now: 5)).isEmpty)
    }

    @Test func noCopyWhenTheCopyWouldFinishLater() {
        var s = scheduler()
        s.addJob(id: "j", name: "j", priority: 50, work: [[100, 100]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "a", name: "a", threads: 1, busy: 0, speed: 10, now: 0)  // tile in 10 s
        s.workerReady(id: "b", name: "b", threads: 1, busy: 0, speed: 1, now: 0)  // tile in 100 s
        let first = assigned(s.assignments(now: 0))
        #expect(first.map(\.worker) == ["a"], "two tiles: a renders both by 20 s; on b the second would end at 100 s")
        #expect(assigned(s.assignments(now: 1)).isEmpty)
        _ = s.complete(lease: first[0].lease, worker: "a", seconds: 10, now: 10)
        // a takes the last tile; b stays idle: a copy on b would end at 110 s, a's own at 20 s.
        #expect(assigned(s.assignments(now: 10)).map(\.worker) == ["a"])
        #expect(assigned(s.assignments(now: 11)).isEmpty)
    }
}
