import FarmCoordinator
import FarmProtocol
import FarmScheduler
import FarmTestSupport
import Testing

/// The coordinator's state machine, transition by transition, in an in-memory shell on a fake clock (Flamenco's
/// transition-table style). Every fault the process tests provoke has its decision checked here.
@Suite struct CoordinatorCoreTests {
    typealias Phase = CoordinatorCore.Phase

    /// A harness with a job submitted and prepared, and workers `names` ready.
    static func running(workers names: [String] = ["a"], config: CoordinatorCore.Config? = nil) -> (CoreHarness, JobID)
    {
        var h = config.map(CoreHarness.init) ?? CoreHarness()
        let id = h.submit(CoreHarness.smallSpec())!
        for n in names { h.ready(n) }
        h.advance(to: 0.1)
        return (h, id)
    }

    /// Renders every tile each worker holds, until the job leaves the running phases or `limit` rounds pass.
    static func renderAll(_ h: inout CoreHarness, _ id: JobID, workers: [String] = ["a"], limit: Int = 50) {
        var answered: Set<LeaseToken> = []
        for _ in 0 ..< limit where !(h.core.phase(of: id)?.isFinal ?? true) {
            for w in workers {
                for lease in h.leases(of: w) where answered.insert(lease.lease).inserted { h.result(lease, from: w) }
            }
            h.settle()
            h.advance(to: h.now + 0.1)
        }
    }

    /// A worker's `ready` says which BLAS kernel it computes with and why; status (and so the dashboard) shows it,
    /// its first 300 characters of whatever a peer sends.
    @Test func aWorkersBLASKernelReachesStatusBounded() throws {
        var h = CoreHarness(config: CoordinatorCore.Config(weightsSHA: "W", weightsBytes: 3))
        let line = "BLAS kernel Cooperlake (chosen by StyleFarm: OpenBLAS picked Prescott; …)"
        h.receive(
            Message(
                .ready, ReadyBody(name: "fast", threads: 2, versions: FarmProtocol.versions, busy: [], kernel: line)),
            from: "fast")
        h.receive(
            Message(
                .ready,
                ReadyBody(
                    name: "long", threads: 2, versions: FarmProtocol.versions, busy: [],
                    kernel: String(repeating: "x", count: 4000))), from: "long")
        h.receive(
            Message(.ready, ReadyBody(name: "old", threads: 2, versions: FarmProtocol.versions, busy: [])), from: "old")
        h.receive(Message(.status, StatusBody()), from: "admin")
        let workers = try #require(h.sent(to: "admin", .statusReply, as: StatusReplyBody.self).last).workers
        let kernels = Dictionary(uniqueKeysWithValues: workers.map { ($0.name, $0.kernel) })
        #expect(kernels["fast"] == line)
        #expect(kernels["long"]??.count == 300)
        #expect(kernels["old"] == .some(nil), "a worker from before the field says nothing, and that is fine")
    }

    @Test func aJobGoesThroughEveryPhaseToDone() {
        var h = CoreHarness()
        h.receive(Message(.submit, SubmitBody(spec: CoreHarness.smallSpec()), payload: [[0], [0]]), from: "client")
        #expect(h.pending.count == 1, "storing the job is work off the loop")
        h.settle()
        let id = h.sent(to: "client", .submitted, as: SubmittedBody.self).first!.job
        #expect(h.core.phase(of: id) == .running(stage: 0) && h.states[id] == .running)
        h.ready("a")
        h.advance(to: 0.1)
        let coarse = h.leases(of: "a")
        #expect(coarse.map(\.stage) == [0] && coarse.first?.targets == "T-\(id)")
        h.result(coarse[0], from: "a")
        #expect(h.core.phase(of: id) == .running(stage: 0), "accepted; blending waits until the tile is stored")
        h.settle()
        #expect(h.core.phase(of: id) == .running(stage: 1), "stored, blended, and the next stage prepared")
        Self.renderAll(&h, id)
        #expect(h.core.phase(of: id) == .done && h.states[id] == .done)
        #expect(Set(h.storedTiles.map(\.stage)) == [0, 1, 2], "the coarse level and both passes of the tiled level")
        h.receive(Message(.fetchOutput, OutputRequestBody(job: id)), from: "client")
        #expect(h.commands(to: "client").last == .output)
        // One chunk at a time per key: a second request before the first is queued is refused, then served.
        h.receive(Message(.fetchOutput, OutputRequestBody(job: id, offset: OutputBody.chunk)), from: "client")
        #expect(
            h.sent(to: "client", .error, as: ErrorBody.self).last?.message.contains("one output chunk at a time")
                == true)
        h.settle()
        h.receive(Message(.fetchOutput, OutputRequestBody(job: id, offset: OutputBody.chunk)), from: "client")
        #expect(h.sent(to: "client", .output, as: OutputBody.self).last?.offset == OutputBody.chunk)
    }

    /// (phase reached, event, phase after): late work for a job that has moved on is dropped.
    @Test(arguments: [
        ("cancelled while preparing", Phase.cancelled),
        ("failed while blending", Phase.failed("finishing stage 0: disk"))
    ])
    func lateWorkForAnEndedJobIsDropped(_ what: String, _ expected: Phase) {
        var h = CoreHarness()
        h.receive(Message(.submit, SubmitBody(spec: CoreHarness.smallSpec()), payload: [[0], [0]]), from: "client")
        h.settle()
        let id = h.sent(to: "client", .submitted, as: SubmittedBody.self).first!.job
        h.ready("a")
        h.advance(to: 0.1)
        if expected == .cancelled {
            h.result(h.leases(of: "a")[0], from: "a")
            h.settle()  // stage 1 is prepared at once by the harness; cancel, then deliver a late `prepared`
            h.receive(Message(.cancel, CancelBody(job: id)), from: "client")
            h.handle(.prepared(job: id, stage: 1, targets: "T", reference: nil, done: [], now: 1))
        } else {
            h.result(h.leases(of: "a")[0], from: "a")
            h.handle(.tileStored(job: id, stage: 0, tile: 0, now: 1))  // before the harness's own delivery
            #expect(h.core.phase(of: id) == .blending(stage: 0))
            h.handle(.workFailed(job: id, reason: "finishing stage 0: disk", now: 1))
        }
        h.settle()
        #expect(h.core.phase(of: id) == expected, "\(what)")
        let before = h.outbox.count
        h.advance(to: 5)
        #expect(
            h.outbox.dropFirst(before).allSatisfy { $0.message.command != .assign }, "no tile of an ended job goes out")
        h.handle(.written(job: id, now: 6))
        #expect(h.core.phase(of: id) == expected, "a stray `written` does not revive it")
    }

    @Test func aStageBlendsOnlyWhenEveryAcceptedTileIsStored() {
        var (h, id) = Self.running()
        h.result(h.leases(of: "a")[0], from: "a")
        #expect(h.pending.count == 1)
        h.handle(h.pending[0])  // stored
        #expect(h.core.phase(of: id) == .blending(stage: 0))
    }

    @Test func aFullDiskFailsTheJobWithTheReason() {
        var (h, id) = Self.running()
        h.failStores = true
        h.result(h.leases(of: "a")[0], from: "a")
        h.settle()
        #expect(
            h.core.phase(of: id) == .failed("cannot write the journal: no space left on device")
                && h.states[id] == .failed)
    }

    static var noCopies: CoordinatorCore.Config {
        var c = CoordinatorCore.Config(weightsSHA: "W", weightsBytes: 3)
        c.scheduler.stragglerCopies = false
        return c
    }

    @Test func aSilentWorkersTileGoesToAnother() {
        var (h, id) = Self.running(workers: ["a", "b"], config: Self.noCopies)
        let lease = h.leases(of: "a")[0]
        for t in [1.0, 2.0, 3.0, 3.5] {  // heartbeat 1 s × liveness 3: "a" is silent for 3.5 s at the end, "b" is not
            h.receive(Message(.heartbeat), from: "b")
            h.advance(to: t)
        }
        #expect(h.logs.contains { $0.hasPrefix("worker lost") && $0.contains("worker=a") })
        #expect(h.leases(of: "b").map(\.task.tile.index) == [lease.task.tile.index], "the tile is requeued to b")
        h.result(lease, from: "a")
        #expect(h.sent(to: "a", .reject, as: RejectBody.self).last?.lease == lease.lease, "a's late result is rejected")
        #expect(h.core.phase(of: id) == .running(stage: 0))
    }

    @Test func aRestartResumesAStageWithTheTilesTheJournalHolds() {
        var h = CoreHarness()
        h.journalTiles["j7"] = [1: [0, 2]]
        let info = CoordinatorCore.StoredJobInfo(
            id: "j7", spec: CoreHarness.smallSpec(), state: .running, detail: nil, stage: 1, memory: [])
        h.handle(.admitted(info, replyTo: nil, now: 0))
        h.settle()
        #expect(h.core.phase(of: "j7") == .running(stage: 1))
        h.ready("a")
        h.ready("b")
        h.advance(to: 0.1)
        let tiles = (h.leases(of: "a") + h.leases(of: "b")).map(\.task.tile.index).sorted()
        #expect(
            !tiles.contains(0) && !tiles.contains(2) && !tiles.isEmpty, "tiles 0 and 2 are not rendered again: \(tiles)"
        )
    }

    @Test func whatARestartFindsNeverCrashesIt() {
        var h = CoreHarness()
        for (id, state, stage) in [
            ("d", JobState.done, 3), ("f", .failed, 0), ("c", .cancelled, 1), ("x", .running, 99)
        ] {
            let info = CoordinatorCore.StoredJobInfo(
                id: JobID(id), spec: CoreHarness.smallSpec(), state: state, detail: nil, stage: stage, memory: [[1]])
            h.handle(.admitted(info, replyTo: nil, now: 0))
        }
        #expect(h.pending.isEmpty, "no ended job is prepared")
        #expect(h.core.phase(of: "d") == .done && h.core.phase(of: "c") == .cancelled)
        #expect(h.core.phase(of: "x") == .failed("the journal's stage 99 is past the job's 3 stages"))
    }

    @Test func aPartitionedWorkersLateResultIsRejectedAndItsTileRendersElsewhere() {
        var (h, id) = Self.running(config: Self.noCopies)
        let lease = h.leases(of: "a")[0]
        h.advance(to: 3.5)  // cut off: lost, its tile pending again
        #expect(h.metrics.contains(.tileRequeued) && h.core.scheduler.liveWorkers.isEmpty)
        h.ready("a", busy: [lease.lease])  // back, still rendering the old tile
        h.advance(to: 3.6)
        #expect(h.leases(of: "a").count == 1, "its busy tile holds its credit, and the tile failed there once")
        h.result(lease, from: "a")
        #expect(h.sent(to: "a", .reject, as: RejectBody.self).contains { $0.lease == lease.lease })
        #expect(h.storedTiles.isEmpty, "a result under a lapsed lease is never stored")
        h.ready("b")
        h.advance(to: 3.7)
        #expect(h.leases(of: "b").map(\.task.tile.index) == [lease.task.tile.index])
        #expect(h.core.phase(of: id) == .running(stage: 0))
    }

    @Test func aStragglerCopyRacesAndTheFirstResultWins() {
        var (h, id) = Self.running(workers: ["slow"])  // the coarse level: one tile, leased at 0.1 s
        let original = h.leases(of: "slow")[0]
        h.ready("fast")
        h.advance(to: 1)
        let copy = h.leases(of: "fast").first
        #expect(
            copy?.task.tile.index == original.task.tile.index && copy?.stage == 0,
            "the idle worker got a copy of the running tile")
        guard let copy else { return }
        h.result(copy, from: "fast")
        #expect(
            h.sent(to: "slow", .reject, as: RejectBody.self).map(\.lease) == [original.lease],
            "the other lease is revoked")
        #expect(h.metrics.contains(.copyRevoked))
        h.result(original, from: "slow")
        h.settle()
        #expect(h.storedTiles == [.init(job: id, stage: 0, tile: 0)], "the losing copy's pixels are never stored")
        #expect(h.core.phase(of: id) == .running(stage: 1))
    }

    @Test func noWorkerGetsATileBeyondItsMemoryLimit() {
        var h = CoreHarness()
        let spec = CoreHarness.smallSpec()
        let memory = spec.stages.map { $0.plan.tiles.map { $0.render.area } }  // a tile "needs" its area in bytes
        let info = CoordinatorCore.StoredJobInfo(
            id: "m", spec: spec, state: .queued, detail: nil, stage: 0, memory: memory)
        h.handle(.admitted(info, replyTo: nil, now: 0))
        h.settle()
        let coarse = memory[0][0]
        h.ready("small", memoryLimit: coarse - 1)
        h.advance(to: 0.1)
        #expect(h.leases(of: "small").isEmpty, "the coarse tile needs \(coarse) bytes")
        #expect(h.core.status(job: "m", now: 0.1)?.detail?.contains("memory") == true)
        h.ready("big", memoryLimit: coarse)
        h.advance(to: 0.2)
        #expect(h.leases(of: "big").count == 1)
    }

    @Test func aBadResultIsCountedRejectedAndItsTileRequeued() {
        var (h, id) = Self.running(workers: ["a", "b"])
        let lease = h.leases(of: "a")[0]
        h.result(lease, from: "a", bytes: 12)
        #expect(h.sent(to: "a", .error, as: ErrorBody.self).last?.code == ProtocolError.malformedBody("").code)
        #expect(h.metrics.contains(.tileFailed) && h.storedTiles.isEmpty)
        h.advance(to: 0.2)
        #expect(
            (h.leases(of: "a") + h.leases(of: "b")).filter { $0.task.tile.index == lease.task.tile.index }.count == 2)
        #expect(h.core.phase(of: id) == .running(stage: 0))
    }

    @Test(arguments: [Command.heartbeat, .progress, .welcome, .assign])
    func whatAnUnregisteredPeerSendsIsRefused(_ command: Command) {
        var h = CoreHarness()
        let body: Message =
            command == .progress
            ? Message(.progress, ProgressBody(lease: "x", iteration: 1, iterations: 2, loss: 1)) : Message(command)
        h.receive(body, from: "stranger")
        let replies = h.commands(to: "stranger")
        switch command {
        case .heartbeat: #expect(h.sent(to: "stranger", .error, as: ErrorBody.self).map(\.code) == ["unknown-worker"])
        case .progress: #expect(replies.isEmpty, "progress from an unknown worker is dropped")
        default:  // no role may send what only a coordinator sends
            #expect(h.sent(to: "stranger", .error, as: ErrorBody.self).map(\.code) == ["forbidden"])
            #expect(h.metrics == [.messageDropped])
        }
    }

    @Test func versionsAndMalformedFramesGetCodedErrors() {
        var h = CoreHarness()
        h.receive(Message(.ready, ReadyBody(name: "old", threads: 1, versions: [9], busy: [])), from: "old")
        #expect(h.sent(to: "old", .error, as: ErrorBody.self).first?.code == ProtocolError.unsupportedVersion(9).code)
        h.handle(.malformed(peer: "x", .badHeader, now: 0))
        let error = h.sent(to: "x", .error, as: ErrorBody.self).first
        #expect(error?.code == ProtocolError.badHeader.code && error?.versions == FarmProtocol.versions)
        h.receive(Message(.submit, SubmitBody(spec: CoreHarness.smallSpec()), payload: [[0]]), from: "c")
        #expect(
            h.sent(to: "c", .error, as: ErrorBody.self).first?.message.contains("style image") == true,
            "one input too few")
        #expect(h.pending.isEmpty, "nothing is stored")
    }

    @Test func blobsAreServedOnlyWhenKnown() {
        var (h, id) = Self.running()
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "a")
        h.receive(Message(.fetch, FetchBody(kind: "targets", sha256: "T-\(id)")), from: "a")
        h.receive(Message(.fetch, FetchBody(kind: "targets", sha256: "nope")), from: "a")
        #expect(h.commands(to: "a").suffix(3) == [.blob, .blob, .reject])
        // A peer that never said ready gets nothing but the request to.
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "stranger")
        #expect(
            h.commands(to: "stranger") == [.error]
                && h.sent(to: "stranger", .error, as: ErrorBody.self).first?.code == "unknown-worker")
    }

    @Test func heartbeatsGoOnlyToQuietWorkers() {
        var (h, _) = Self.running(workers: ["a", "b"], config: Self.noCopies)
        h.clearOutbox()
        h.advance(to: 1.0)
        #expect(h.commands(to: "a") == [] && h.commands(to: "b") == [.heartbeat], "a was sent its tile at 0.1 s")
        h.advance(to: 1.1)
        #expect(h.commands(to: "a") == [.heartbeat])
    }

    @Test func snapshotsShowTheTileGridTwiceASecond() {
        var (h, id) = Self.running(workers: ["a"])
        h.advance(to: 0.3)
        let count = h.snapshots.count
        h.advance(to: 0.7)
        #expect(h.snapshots.count == count + 1)
        let job = h.snapshots.last?.jobs.first { $0.status.id == id }
        #expect(job?.pass == "coarse" && job?.tiles.map(\.state) == ["rendering"] && job?.tiles.first?.worker == "a")
    }

    @Test func cancelEndsTheJobAndRevokesItsLeases() {
        var (h, id) = Self.running()
        let lease = h.leases(of: "a")[0]
        h.receive(Message(.cancel, CancelBody(job: id)), from: "client")
        #expect(h.core.phase(of: id) == .cancelled && h.states[id] == .cancelled)
        h.result(lease, from: "a")
        #expect(h.sent(to: "a", .reject, as: RejectBody.self).map(\.lease) == [lease.lease])
        h.receive(Message(.cancel, CancelBody(job: id)), from: "client")
        let refusal = h.sent(to: "client", .error, as: ErrorBody.self).last
        #expect(refusal?.code == "conflict" && refusal?.message.contains("has already ended") == true)
    }

    /// A full disk pauses leasing (what is out finishes and waits in the shell); space back resumes it.
    @Test func aFullDiskPausesLeasingUntilSpaceIsBack() {
        var (h, id) = Self.running(workers: ["a", "b"])
        let out = { (h: CoreHarness) in h.leases(of: "a").count + h.leases(of: "b").count }
        #expect(out(h) == 1, "the coarse tile")
        h.handle(.storageFull(reason: "No space left on device", now: h.now))
        #expect(h.core.storagePaused && h.logs.last?.contains("storage full") == true)
        h.result(h.leases(of: "a").first ?? h.leases(of: "b")[0], from: h.leases(of: "a").isEmpty ? "b" : "a")
        h.settle()
        for t in stride(from: 1.0, through: 5, by: 1) {
            for w in ["a", "b"] { h.receive(Message(.heartbeat), from: w) }
            h.advance(to: t)
        }
        #expect(
            h.core.phase(of: id) == .running(stage: 1) && out(h) == 1, "stage 1 is ready, but nothing more is leased")
        h.handle(.storageRecovered(now: h.now))
        h.advance(to: h.now + 0.2)
        #expect(!h.core.storagePaused && out(h) == 3, "leasing resumes: both workers get a tile of stage 1")
    }

    /// A disk full only while a stage prepares (the preparation kept by the shell, then retried) pauses leasing until
    /// the retried preparation succeeds: that success says space is back, so the pause does not last for ever.
    @Test func aDiskFullOnlyWhilePreparingPausesLeasingUntilThePreparationSucceeds() throws {
        var h = CoreHarness()
        h.ready("w")
        h.diskFull = true
        let submitted = h.submit(CoreHarness.smallSpec())
        let id = try #require(submitted)
        #expect(h.core.storagePaused && h.core.phase(of: id) == .preparing(stage: 0))
        #expect(h.core.status(job: id, now: h.now)?.state == .queued)
        h.advance(to: 0.5)
        #expect(h.leases(of: "w").isEmpty)
        h.diskFull = false
        h.retryStorage()
        h.settle()
        h.receive(Message(.heartbeat), from: "w")
        h.advance(to: 1)
        #expect(
            !h.core.storagePaused && h.core.phase(of: id) == .running(stage: 0) && h.leases(of: "w").count == 1,
            "space is back: the stage runs and its tile is leased")
    }
}
