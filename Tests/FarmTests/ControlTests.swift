import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmTestSupport
import Testing

/// Steering by hand (`ControlBody`, Docs/protocol.md "Control"), on the core: every action, and every refusal, as the
/// `control` command and as the dashboard's buttons (one implementation).
@Suite struct ControlTests {
    static let worker = Caller(key: "KW", name: "node7", role: .worker)
    static let alice = Caller(key: "KA", name: "alice", role: .client)
    static let bob = Caller(key: "KB", name: "bob", role: .client)
    static let admin = Caller(key: "KR", name: "root", role: .admin)

    /// Alice's small job, prepared; workers `names` (worker keys) ready.
    static func farm(workers names: [String] = ["w"], config: CoordinatorCore.Config? = nil) -> (CoreHarness, JobID) {
        var h = config.map(CoreHarness.init) ?? CoreHarness()
        h.callers = ["alice": alice, "bob": bob, "root": admin]
        for n in names { h.callers[n] = worker }
        let id = h.submit(CoreHarness.smallSpec(), from: "alice")!
        for n in names { h.ready(n) }
        h.advance(to: 0.1)
        return (h, id)
    }

    static func limits(worker: Int = 3, tile: Int = 3) -> CoordinatorCore.Config {
        var c = CoordinatorCore.Config(weightsSHA: "W", weightsBytes: 3)
        (c.scheduler.workerFailureLimit, c.scheduler.tileFailureLimit) = (worker, tile)
        return c
    }

    static func refusal(_ r: Result<ControlledBody, ControlRefusal>?) -> ControlRefusal? {
        if case let .failure(e) = r { e } else { nil }
    }

    static func done(_ r: Result<ControlledBody, ControlRefusal>?) -> ControlledBody? {
        if case let .success(d) = r { d } else { nil }
    }

    @Test func aPausedJobLeasesNothingUntilResumed() throws {
        var (h, id) = Self.farm(workers: [])
        let paused = try #require(Self.done(h.control(ControlBody(.pause, job: id), from: "alice")))
        #expect(paused.job?.paused == true && paused.message.contains("paused"))
        #expect(h.controls[id]?.paused == true, "recorded in the journal")
        #expect(Self.refusal(h.control(ControlBody(.pause, job: id), from: "alice"))?.code == .conflict)
        h.callers["w"] = Self.worker
        h.ready("w")
        h.advance(to: 1)
        #expect(h.leases(of: "w").isEmpty)
        #expect(h.core.status(job: id, now: 1)?.detail?.contains("paused") == true)
        #expect(Self.done(h.control(ControlBody(.resume, job: id), from: "alice"))?.job?.paused == nil)
        h.advance(to: 1.2)
        #expect(h.leases(of: "w").count == 1 && h.controls[id]?.paused == false)
        #expect(Self.refusal(h.control(ControlBody(.resume, job: id), from: "alice"))?.code == .conflict, "not paused")
    }

    @Test func aPausedJobsLeasesOutFinish() {
        var (h, id) = Self.farm()
        let lease = h.leases(of: "w")[0]
        _ = h.control(ControlBody(.pause, job: id), from: "alice")
        h.result(lease, from: "w")
        h.settle()
        h.advance(to: 1)
        #expect(h.storedTiles.count == 1 && h.core.phase(of: id) == .running(stage: 1), "the tile out was accepted")
        #expect(h.leases(of: "w").count == 1, "and nothing more was leased")
    }

    @Test func priorityDecidesWhichJobGoesFirst() throws {
        var (h, first) = Self.farm(workers: [])
        let submitted = h.submit(CoreHarness.smallSpec(), from: "alice")
        let second = try #require(submitted)
        let raised = try #require(
            Self.done(h.control(ControlBody(.priority, job: second, priority: 90), from: "alice")))
        #expect(raised.job?.priority == 90 && h.controls[second]?.priority == 90)
        h.callers["w"] = Self.worker
        h.ready("w")
        h.advance(to: 1)
        #expect(h.leases(of: "w").map(\.job) == [second], "the raised job goes before the older one")
        #expect(first != second)
        for bad in [
            ControlBody(.priority, job: second, priority: 101), ControlBody(.priority, job: second, priority: -1),
            ControlBody(.priority, job: second)
        ] {
            #expect(Self.refusal(h.control(bad, from: "alice"))?.code == .invalid)
        }
    }

    @Test func aClientSteersOnlyItsOwnJobsAndAWorkerNone() throws {
        var (h, id) = Self.farm()
        let wire = try #require(Self.refusal(h.control(ControlBody(.cancel, job: id), from: "bob")))
        #expect(wire.code == .notFound && wire.message == "no job \(id)", "on the wire another's job does not exist")
        let page = try #require(Self.refusal(h.dashboardControl(ControlBody(.cancel, job: id), as: Self.bob)))
        #expect(page == wire, "the page shows a client its own jobs only, so another's does not exist there either")
        #expect(Self.refusal(h.dashboardControl(ControlBody(.pause, job: id), as: Self.worker))?.code == .forbidden)
        h.receive(Message(.control, ControlBody(.pause, job: id)), from: "w")
        #expect(
            h.sent(to: "w", .error, as: ErrorBody.self).last?.code == "forbidden",
            "a worker key may not send control at all")
        #expect(h.core.phase(of: id) == .running(stage: 0))
        #expect(Self.refusal(h.control(ControlBody(.pause, job: "nope"), from: "root"))?.code == .notFound)
        #expect(Self.refusal(h.control(ControlBody(.pause), from: "root"))?.code == .invalid, "a job verb needs a job")

        #expect(
            Self.done(h.dashboardControl(ControlBody(.pause, job: id), as: Self.admin)) != nil,
            "an admin steers any job")
        let cancelled = try #require(Self.done(h.dashboardControl(ControlBody(.cancel, job: id), as: Self.alice)))
        #expect(cancelled.job?.state == .cancelled && h.core.phase(of: id) == .cancelled && h.states[id] == .cancelled)
        #expect(Self.refusal(h.dashboardControl(ControlBody(.cancel, job: id), as: Self.alice))?.code == .conflict)
        #expect(Self.refusal(h.dashboardControl(ControlBody(.pause, job: id), as: Self.alice))?.code == .conflict)
    }

    @Test func retryRunsAFailedJobAgainFromItsStageKeepingItsTiles() throws {
        var (h, id) = Self.farm(config: Self.limits(tile: 1))
        #expect(
            Self.refusal(h.control(ControlBody(.retry, job: id), from: "alice"))?.code == .conflict, "it is running")
        h.result(h.leases(of: "w")[0], from: "w")
        h.settle()
        h.advance(to: 0.5)
        let tile = try #require(h.leases(of: "w").last)
        #expect(tile.stage == 1)
        h.receive(Message(.failed, FailedBody(lease: tile.lease, reason: "out of memory")), from: "w")
        guard case .failed = h.core.phase(of: id) else { Issue.record("the job should have failed"); return }
        #expect(h.states[id] == .failed)
        h.journalTiles[id] = [1: [3]]  // a tile of stage 1 the journal holds
        let retried = try #require(Self.done(h.control(ControlBody(.retry, job: id), from: "alice")))
        #expect(retried.message.contains("stage 1") && h.states[id] == .queued)
        h.settle()
        h.advance(to: 1)
        #expect(h.core.phase(of: id) == .running(stage: 1) && h.states[id] == .running)
        let again = h.leases(of: "w").last
        #expect(
            again?.stage == 1 && again?.task.tile.index == tile.task.tile.index,
            "the failed tile, on the worker it failed on")
        #expect(h.core.status(job: id, now: 1)?.tilesDone == 2, "the coarse tile and the journal's stage-1 tile")
        CoordinatorCoreTests.renderAll(&h, id, workers: ["w"])
        #expect(h.core.phase(of: id) == .done)
        #expect(
            Self.refusal(h.control(ControlBody(.retry, job: id), from: "alice"))?.code == .conflict,
            "a done job is not retried")
    }

    @Test func requeueGivesAStagesFailedTilesFreshAttempts() throws {
        var (h, id) = Self.farm()
        #expect(
            Self.refusal(h.control(ControlBody(.requeue, job: id), from: "alice"))?.code == .conflict,
            "nothing failed yet")
        let lease = h.leases(of: "w")[0]
        h.receive(Message(.failed, FailedBody(lease: lease.lease, reason: "boom")), from: "w")
        h.advance(to: 1)
        #expect(h.leases(of: "w").count == 1, "a tile does not go back to the worker it failed on")
        let requeued = try #require(Self.done(h.control(ControlBody(.requeue, job: id), from: "alice")))
        #expect(requeued.message.contains("1 failed tile"))
        h.advance(to: 1.2)
        #expect(h.leases(of: "w").count == 2 && h.leases(of: "w")[1].task.tile.index == lease.task.tile.index)
        let detail = try #require(h.core.detail(job: id, stage: 0, now: h.now))
        #expect(detail.tiles[0].attempts == 2 && detail.tiles[0].state == "rendering")
        #expect(
            detail.events.map(\.kind).contains("failed")
                && detail.events.contains { $0.kind == "control" && $0.message.contains("by client 'alice'") })
    }

    @Test func aDrainedWorkerFinishesItsTileTakesNoMoreAndStaysDrainedWhenItReconnects() throws {
        var (h, id) = Self.farm()
        let lease = h.leases(of: "w")[0]
        #expect(
            Self.refusal(h.control(ControlBody(.drain, worker: "w"), from: "alice"))?.code == .forbidden,
            "an admin's only")
        #expect(Self.refusal(h.control(ControlBody(.drain, worker: "nobody"), from: "root"))?.code == .notFound)
        let drained = try #require(Self.done(h.control(ControlBody(.drain, worker: "w"), from: "root")))
        #expect(drained.worker?.draining == true && drained.worker?.tilesNow == ["\(id)/s0/t0"])
        #expect(Self.refusal(h.control(ControlBody(.drain, worker: "w"), from: "root"))?.code == .conflict)
        h.result(lease, from: "w")
        h.settle()
        h.advance(to: 1)
        #expect(h.storedTiles.count == 1, "its tile finished and was accepted")
        #expect(h.leases(of: "w").count == 1, "and it took no more")
        #expect(h.core.status(job: id, now: 1)?.detail?.contains("draining") == true)
        h.ready("w")  // it reconnects
        h.advance(to: 1.5)
        #expect(h.leases(of: "w").count == 1, "still draining")
        #expect(
            Self.done(h.dashboardControl(ControlBody(.resume, worker: "w"), as: Self.admin)) != nil, "from the page")
        h.advance(to: 2)
        #expect(h.leases(of: "w").count == 2)
        #expect(
            Self.refusal(h.control(ControlBody(.resume, worker: "w"), from: "root"))?.code == .conflict, "not draining")
    }

    @Test func aNameThatMatchesSeveralWorkersIsRefused() {
        var (h, _) = Self.farm(workers: ["w1", "w2"])  // both say `ready` as "w1"/"w2" but the harness names them by id
        h.receive(
            Message(.ready, ReadyBody(name: "twin", threads: 1, versions: FarmProtocol.versions, busy: [])), from: "w1")
        h.receive(
            Message(.ready, ReadyBody(name: "twin", threads: 1, versions: FarmProtocol.versions, busy: [])), from: "w2")
        let r = Self.refusal(h.control(ControlBody(.drain, worker: "twin"), from: "root"))
        #expect(r?.code == .invalid && r?.message.contains("w1, w2") == true)
    }

    @Test func clearingABlocklistLetsTheWorkerBack() throws {
        var (h, id) = Self.farm(config: Self.limits(worker: 1, tile: 3))
        let lease = h.leases(of: "w")[0]
        h.receive(Message(.failed, FailedBody(lease: lease.lease, reason: "boom")), from: "w")
        h.advance(to: 1)
        #expect(h.leases(of: "w").count == 1)
        h.receive(Message(.status, StatusBody()), from: "root")
        #expect(h.sent(to: "root", .statusReply, as: StatusReplyBody.self).last?.workers.first?.blocklisted == [id])
        let cleared = try #require(Self.done(h.control(ControlBody(.clearBlocklist, worker: "w"), from: "root")))
        #expect(cleared.message.contains(id.rawValue) && cleared.worker?.blocklisted == nil)
        h.advance(to: 1.2)
        #expect(h.leases(of: "w").count == 2, "it takes the job's tile again")
        #expect(Self.refusal(h.control(ControlBody(.clearBlocklist, worker: "w"), from: "bob"))?.code == .forbidden)
    }

    @Test func aJobsPageHasItsStagesTilesLossCurveAndLog() throws {
        var (h, id) = Self.farm()
        let lease = h.leases(of: "w")[0]
        for i in 1 ... 3 {
            h.receive(
                Message(
                    .progress, ProgressBody(lease: lease.lease, iteration: i, iterations: 3, loss: 100 / Double(i))),
                from: "w")
        }
        var detail = try #require(h.core.detail(job: id, stage: nil, now: h.now))
        #expect(detail.stages.map(\.state) == ["current", "waiting", "waiting"] && detail.stage == 0)
        #expect(detail.tiles[0].state == "rendering" && detail.tiles[0].iteration == 3 && detail.tiles[0].worker == "w")
        h.advance(to: 0.5)
        h.result(lease, from: "w", seconds: 0.05)
        h.settle()
        h.advance(to: 1)
        detail = try #require(h.core.detail(job: id, stage: 0, now: h.now))
        #expect(detail.stages.map(\.state) == ["done", "current", "waiting"])
        let t = detail.tiles[0]
        #expect(t.state == "done" && t.attempts == 1 && t.worker == "w" && t.loss == 1 && t.seconds == 0.05)
        let curve = try #require(h.core.tileDetail(job: id, stage: 0, tile: 0, now: h.now)).curve
        #expect(curve.map(\.iteration) == [1, 2, 3] && curve.map(\.loss) == [100, 50, 100 / 3.0])
        #expect(
            h.core.tileDetail(job: id, stage: 0, tile: 9, now: h.now) == nil
                && h.core.detail(job: "nope", stage: nil, now: 0) == nil)
        #expect(
            detail.events.map(\.kind).starts(with: ["stage", "leased"])
                && detail.events.contains { $0.kind == "stage" && $0.stage == 1 })
        #expect(detail.status.owner == "alice" && detail.status.submitted != nil && detail.status.started != nil)
        #expect(try #require(h.core.detail(job: id, stage: 1, now: h.now)).tiles.allSatisfy { $0.state != "done" })
    }

    @Test func aLossCurveKeepsItsShapeWithinItsBound() {
        var r = TileRecord()
        for i in 1 ... 1000 { r.record(iteration: i, loss: Double(2000 - i)) }
        r.record(iteration: 1001, loss: .nan)
        #expect(r.curve.count <= TileRecord.maxPoints && r.curve.count >= TileRecord.maxPoints / 2)
        #expect(r.curve.first?.iteration == 1 && r.curve.last?.iteration == 1000)
        #expect(zip(r.curve, r.curve.dropFirst()).allSatisfy { $0.iteration < $1.iteration })
        r.record(iteration: 1, loss: 5)  // a restarted tile (a new lease) starts its curve again
        #expect(r.curve.map(\.iteration) == [1])
    }

    @Test func theLogIsBounded() throws {
        var (h, id) = Self.farm()
        for _ in 0 ..< 300 {
            _ = h.control(ControlBody(.pause, job: id), from: "alice")
            _ = h.control(ControlBody(.resume, job: id), from: "alice")
        }
        let events = try #require(h.core.detail(job: id, stage: nil, now: h.now)).events
        #expect(events.count == JobDetail.maxEvents && events.last?.message.contains("resumed") == true)
    }
}
