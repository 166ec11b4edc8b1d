import FarmCoordinator
import FarmProtocol
import FarmScheduler
import FarmTestSupport
import FarmWorker
import Foundation
import GRDB
import StyleCore
import Testing

/// What once crashed a coordinator or a worker from outside data is refused with a reason that names the field
/// (issue 21's admission cases): on submit, in a stored journal, in an assignment, in a result's seconds.
@Suite struct AdmissionLimitsTests {
    static func message(_ spec: JobSpec) -> String {
        do { try spec.validate() } catch { return "\(error)" }
        return ""
    }

    @Test func everyCrashingSpecIsRefusedNamingItsField() {
        var spec = CoreHarness.smallSpec()
        #expect(Self.message(spec) == "", "the small job is valid")
        let cases: [(String, (inout JobSpec) -> Void)] = [
            ("optimizer.lbfgs.history", { $0.poster.options.optimizer = .lbfgs(history: Int.max) }),
            ("optimizer.lbfgs.history", { $0.poster.options.optimizer = .lbfgs(history: 0) }),
            ("poster.width/height", { ($0.poster.width, $0.poster.height) = (4_294_967_296, 4_294_967_296) }),
            ("poster.width/height", { ($0.poster.width, $0.poster.height) = (100_000, 100_000) }),
            (
                "poster.tileSize",
                { ($0.poster.width, $0.poster.height, $0.poster.tileSize, $0.poster.overlap) = (32_000, 32_000, 64, 8) }
            ),
            ("poster.iterations", { $0.poster.iterations = [] }),
            ("poster.iterations", { $0.poster.iterations = [Int.max] }),
            ("poster.styleScale", { $0.poster.styleScale = .infinity }),
            ("styleWeights", { $0.styleWeights = [.nan] }),
            ("loss weights", { $0.poster.options.loss.tvWeight = -.infinity }),
            ("loss.styleLayerExponent", { $0.poster.options.loss.styleLayerExponent = 1e30 }),
            ("loss.styleLayers", { $0.poster.options.loss.styleLayers = [] }),
            ("optimizer.adam.beta", { $0.poster.options.optimizer = .adam(beta1: 1) }),
            ("relativeTolerance", { $0.poster.options.relativeTolerance = .nan }),
            ("dpi", { $0.dpi = .infinity }),
            ("frame.temporalImage", { $0.frame = .init(temporalMask: false, temporalImage: true) }),
            // Perceptual control, as a hostile client might send it.
            (
                "poster.control.region[1].styles",
                { $0.poster.control = Self.control(regions: [.init(color: [0], styles: [Int.max])]) }
            ),
            (
                "poster.control.region[1].styles",
                { $0.poster.control = Self.control(regions: [.init(color: [0], styles: [Int.min])]) }
            ),
            (
                "poster.control.region[1].blend",
                { $0.poster.control = Self.control(regions: [.init(color: [0], styles: [0], blend: [1, 2])]) }
            ),
            (
                "poster.control.region[1].color",
                { $0.poster.control = Self.control(regions: [.init(color: [1, 2], styles: [0])]) }
            ),
            (
                "poster.control.region[1].weight",
                { $0.poster.control = Self.control(regions: [.init(color: [0], styles: [0], weight: .nan)]) }
            ),
            (
                "poster.control.regions",
                { $0.poster.control = Self.control(regions: (0 ..< 17).map { .init(color: [$0], styles: [0]) }) }
            ),
            ("poster.control.region-feather", { $0.poster.control = Self.control(feather: .infinity) }),
            ("poster.control.style[1].scale", { $0.poster.control = Self.control(styles: [.init(scale: .nan)]) }),
            ("poster.control.style[1].layers", { $0.poster.control = Self.control(styles: [.init(layers: [])]) }),
            ("poster.control.styles", { $0.poster.control = Self.control(styles: [.init(), .init(), .init()]) }),
            (
                "poster.control.styles",
                {
                    ($0.poster.styleSize, $0.poster.styleScale, $0.poster.control) = (
                        8192, 8, Self.control(styles: [.init(scale: 8)])
                    )
                }
            ),
            (
                "inputs",
                {
                    $0.styleWeights = Array(repeating: 1, count: 6)
                    $0.poster.control = Self.control(
                        styles: Array(repeating: .init(masked: true), count: 6),
                        regions: [.init(color: [0], styles: [0])])
                }
            )
        ]
        for (field, mutate) in cases {
            spec = CoreHarness.smallSpec()
            mutate(&spec)
            #expect(Self.message(spec).contains(field), "\(field): \(Self.message(spec))")
        }
    }

    static func control(
        styles: [StyleControl.StyleOptions] = [], regions: [StyleControl.Region] = [], feather: Float = 0.01
    ) -> StyleControl {
        var c = StyleControl()
        (c.styles, c.regions, c.feather) = (styles, regions, feather)
        return c
    }

    @Test func aSubmitOutsideTheLimitsIsRefusedBeforeItIsJournaled() {
        var harness = CoreHarness()
        var spec = CoreHarness.smallSpec()
        spec.poster.options.optimizer = .lbfgs(history: Int.max)
        harness.receive(Message(.submit, SubmitBody(spec: spec), payload: [[1], [2]]), from: "client")
        #expect(harness.states.isEmpty, "nothing was admitted")
        let errors = harness.sent(to: "client", .error, as: ErrorBody.self)
        #expect(errors.count == 1 && errors[0].message.contains("lbfgs.history"))
    }

    /// A journal holding what once crashed a restart: a spec outside the limits, one that does not decode, a
    /// column of the wrong type. Loading never throws; the bad rows come back with their reasons.
    @Test func aPoisonedJournalLoadsWithItsBadRowsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("poisoned-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var huge = CoreHarness.smallSpec(name: "huge")
        huge.poster.options.optimizer = .lbfgs(history: Int.max)
        do {
            let journal = try Journal(directory: dir)
            _ = try journal.add(
                job: "good", spec: CoreHarness.smallSpec(name: "good"), inputs: [[1], [2]], submitted: 0)
            _ = try journal.add(job: "huge", spec: huge, inputs: [[1], [2]], submitted: 0)
        }
        let db = try DatabaseQueue(path: dir.appendingPathComponent("farm.sqlite").path)
        try db.write { db in
            try db.execute(
                sql:
                    "INSERT INTO job (id, seq, spec, state, inputs, created) VALUES ('garbled', 3, '{not json', 'queued', 2, 0)"
            )
            try db.execute(
                sql:
                    "INSERT INTO job (id, seq, spec, state, stage, inputs, created) SELECT 'nulls', 4, spec, 'queued', 0, 'many', 0 FROM job WHERE id = 'good'"
            )
        }
        let (jobs, unreadable) = try Journal(directory: dir).jobs()
        #expect(jobs.map(\.id) == ["good", "huge"])
        #expect(
            Set(unreadable.map(\.id)) == ["garbled", "nulls"]
                && unreadable.allSatisfy { $0.reason.contains("cannot be read") })
        #expect(
            (try? jobs[1].spec.validate()) == nil, "the stored huge job is outside the limits, and restore fails it")
    }

    /// The core admits a stored job outside the limits as failed, with its reason persisted, and runs the next.
    @Test func aStoredJobOutsideTheLimitsFailsAndTheNextRuns() {
        var core = CoordinatorCore(config: .init(weightsSHA: "W", weightsBytes: 3), epoch: "e")
        let bad = CoordinatorCore.StoredJobInfo(
            id: "bad", spec: CoreHarness.smallSpec(), state: .queued, detail: nil,
            problem: "optimizer.lbfgs.history: must be 1...1000")
        let actions = core.handle(.admitted(bad, replyTo: nil, now: 0))
        #expect(
            actions.contains {
                if case let .persistState(job, .failed, detail, _) = $0 {
                    job == "bad" && detail?.contains("lbfgs.history") == true
                } else {
                    false
                }
            })
        let good = CoordinatorCore.StoredJobInfo(
            id: "good", spec: CoreHarness.smallSpec(), state: .queued, detail: nil, stage: 0, memory: [])
        #expect(
            core.handle(.admitted(good, replyTo: nil, now: 0)).contains {
                if case .prepare(job: "good", stage: 0) = $0 { true } else { false }
            })
    }

    /// A result claiming 5e-324 seconds no longer makes a speed infinite (which once aborted the next status
    /// reply): the time is measured by the scheduler, and status encodes.
    @Test func aResultsSecondsAreMeasuredNotTrusted() throws {
        var scheduler = FarmScheduler(config: .init(), epoch: "e")
        scheduler.addJob(id: "j", name: "j", priority: 50, work: [[100, 100]])
        _ = scheduler.startStage(job: "j", stage: 0, now: 0)
        scheduler.workerReady(id: "w", name: "w", threads: 1, busy: 0, now: 1)
        let lease = try #require(
            scheduler.assignments(now: 1).compactMap { if case let .assign(_, _, l) = $0 { l } else { nil } }.first)
        _ = scheduler.complete(lease: lease, worker: "w", seconds: 5e-324, now: 3)
        let worker = try #require(scheduler.workerStatuses(now: 3).first)
        let speed = try #require(worker.speed)
        #expect(speed.isFinite && abs(speed - 50) < 1e-9, "100 pixel-iterations in the 2 s since the lease")
        let c = try #require(scheduler.counts(job: "j"))
        let job = JobStatus(
            id: "j", name: "j", priority: c.priority, state: .running, stage: c.stage, stages: c.stages,
            tilesDone: c.tilesDone,
            tilesTotal: c.tilesTotal, workFraction: c.workFraction, elapsed: 2)
        let reply = Message(.status, StatusReplyBody(jobs: [job], workers: [worker]))
        #expect(try reply.decode(StatusReplyBody.self).workers.first?.speed == speed)
    }

    /// A tile outside 0...1 is not a rendering: refused, counted against the worker, and the tile is rendered again
    /// elsewhere; its claimed 1e300 seconds count for nothing.
    @Test func aResultOutsideTheValidRangeIsRefusedAndTheTileRequeued() throws {
        var h = CoreHarness()
        let submitted = h.submit(CoreHarness.smallSpec())
        let id = try #require(submitted)
        h.ready("a")
        h.advance(to: 0.1)
        let lease = try #require(h.leases(of: "a").first)
        let core = lease.task.tile.core
        let two = [UInt8](repeating: 0, count: 3) + [0x40]  // 2.0 as a little-endian Float32
        h.receive(
            Message(
                .result, ResultBody(lease: lease.lease, seconds: 1e300, loss: 1),
                payload: [Array([[UInt8]](repeating: two, count: 3 * core.width * core.height).joined())]), from: "a")
        #expect(h.sent(to: "a", .error, as: ErrorBody.self).last?.message.contains("outside 0...1") == true)
        #expect(h.core.scheduler.tileStates(job: id)?.done.isEmpty == true, "nothing was accepted")
        h.ready("b")
        h.advance(to: 0.2)
        #expect(
            h.leases(of: "b").first?.task.tile.index == lease.task.tile.index,
            "rendered again, by a worker that did not fail it")
    }
}
