import FarmCoordinator
import FarmProtocol
import FarmScheduler
import FarmTestSupport
import Testing

/// Per-key budgets (Docs/security.md, "Per-key budgets"): what a worker key may cost the farm counts by its key,
/// whatever names and connections it uses, and no lease lives for ever on progress alone.
@Suite struct PerKeyBudgetTests {
    static let stolen = Caller(key: "K-stolen", name: "stolen", role: .worker)
    static let honest = Caller(key: "K-honest", name: "honest", role: .worker)

    /// One stolen worker key, registered under five names on five connections, fails the job's tile on each: its
    /// failures count as one key's towards failing the job (which needs three keys), so the job goes on; and each of
    /// its machines (key and name) stays blocklisted across a reconnect once it failed three times. An honest worker
    /// then finishes the job.
    @Test func oneKeyUnderManyNamesCannotFailAJob() throws {
        var h = CoreHarness()
        let peers = ["c1", "c2", "c3", "c4", "c5"]
        for (peer, name) in zip(peers, ["a", "b", "c", "d", "e"]) {
            h.callers[peer] = Self.stolen
            h.receive(
                Message(.ready, ReadyBody(name: name, threads: 1, versions: FarmProtocol.versions, busy: [])),
                from: peer)
        }
        let submitted = h.submit(CoreHarness.smallSpec())
        let job = try #require(submitted)
        var failures = 0, failed: Set<LeaseToken> = []
        for _ in 0 ..< 20 {
            h.advance(to: h.now + 0.1)
            for peer in peers {
                for lease in h.leases(of: peer) where !failed.contains(lease.lease) {
                    failed.insert(lease.lease)
                    h.receive(Message(.failed, FailedBody(lease: lease.lease, reason: "sabotage")), from: peer)
                    failures += 1
                }
            }
        }
        #expect(failures == 5, "the tile went to each connection once (\(failures))")
        #expect(
            h.states[job] != .failed && h.core.phase(of: job) == .running(stage: 0),
            "one key cannot fail a job, whatever names it uses")
        h.callers["ok"] = Self.honest
        h.ready("ok")
        h.advance(to: h.now + 0.1)
        #expect(!h.leases(of: "ok").isEmpty, "an honest worker gets the job's tiles")
    }

    /// A result of the right size, in range, under a live lease of another worker is refused for that worker alone:
    /// nothing is stored, and the holder's own result is then accepted.
    @Test func aPlausibleResultUnderAnotherWorkersLeaseIsRefused() throws {
        var h = CoreHarness()
        h.callers["mallory"] = Self.stolen
        h.callers["alice"] = Self.honest
        h.ready("alice")
        let submitted = h.submit(CoreHarness.smallSpec())
        let job = try #require(submitted)
        h.advance(to: 0.1)
        let lease = try #require(h.leases(of: "alice").first)
        h.ready("mallory")
        h.advance(to: 0.2)
        let pixels = 12 * lease.task.tile.core.area
        let plausible: [UInt8] = (0 ..< pixels).map { $0 % 4 == 3 ? 0x3F : 0 }  // 0.5 everywhere
        h.receive(
            Message(.result, ResultBody(lease: lease.lease, seconds: 1, loss: 1), payload: [plausible]), from: "mallory"
        )
        #expect(h.sent(to: "mallory", .reject, as: RejectBody.self).last?.lease == lease.lease)
        h.settle()
        #expect(h.storedTiles.isEmpty, "nothing stored from the wrong holder")
        h.result(lease, from: "alice")
        h.settle()
        #expect(h.storedTiles.map(\.job) == [job])
    }

    /// Progress renews a lease up to ten times its tile's work at the stage's slowest rate so far; past that it lapses
    /// and the tile is leased again, even while progress keeps coming. A tile twice as large gets twice as long.
    @Test func progressRenewsALeaseOnlyUpToItsCap() {
        var c = FarmScheduler.Config()
        c.leaseSeconds = 5
        var s = FarmScheduler(config: c, epoch: "e")
        s.addJob(id: "j", name: "j", priority: 50, work: [[1, 2, 1]])
        _ = s.startStage(job: "j", stage: 0, now: 0)
        s.workerReady(id: "fast", name: "fast", threads: 1, busy: 0, now: 0)
        s.workerReady(id: "stuck", name: "stuck", threads: 1, busy: 0, now: 0)
        let first = s.assignments(now: 0).compactMap { if case let .assign(w, _, l) = $0 { (w, l) } else { nil } }
        let fast = first.first { $0.0 == "fast" }!.1, stuck = first.first { $0.0 == "stuck" }!.1
        _ = s.complete(lease: fast, worker: "fast", seconds: 2, now: 2)  // the stage's slowest tile: 2 s
        var requeued = false
        var t = 2.0
        while t < 80, !requeued {
            t += 1
            _ = s.progress(lease: stuck, worker: "stuck", now: t)
            _ = s.heard(from: "fast", now: t)
            _ = s.heard(from: "stuck", now: t)
            requeued = s.tick(now: t).contains {
                if case let .requeued(_, w, _, reason, cause) = $0 {
                    w == "stuck" && reason.contains("cap") && cause == .capped
                } else {
                    false
                }
            }
        }
        #expect(
            requeued && t <= 41 && t >= 40,
            "lapsed at 10 x 2 s x its double work after it was granted, not later (t = \(t))")
    }
}
