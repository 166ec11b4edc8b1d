import FarmCoordinator
import FarmProtocol
import FarmTestSupport
import FarmWorker
import Foundation
import StyleCore
import Testing
import Tiling

/// The schema-driven mutations of `HostilePeerTests` and `HostileCoordinatorTests`, in process and exhaustive: every
/// field of every message a coordinator or a worker can receive (a job spec with perceptual control and a video
/// frame included, so that their fields are in the schema), at every boundary value, through the real decoding and
/// the real state machines. A trap anywhere kills this test process, so a pass means none.
@Suite struct SchemaFuzzTests {
    /// A spec with every optional part set: perceptual control (styles, regions), a frame, a DPI.
    static var fullSpec: JobSpec {
        var spec = CoreHarness.smallSpec()
        var control = StyleControl()
        control.styles = [StyleControl.StyleOptions(scale: 1.5, layers: ["relu1_1", "relu2_1"], masked: true)]
        control.regions = [StyleControl.Region(color: [255, 0, 0], styles: [0], blend: [1], weight: 1)]
        control.colorMatch = true
        spec.poster.control = control
        spec.frame = JobSpec.FrameInputs(temporalMask: true, temporalImage: true)
        spec.dpi = 300
        return spec
    }

    static var toCoordinator: [Message] {
        [
            Message(
                .ready,
                ReadyBody(
                    name: "w", threads: 2, versions: FarmProtocol.versions, weights: "W", busy: ["e-1"], cores: 4,
                    memoryLimit: 1 << 30, speed: 5000, kernel: "Haswell", host: "h")),
            Message(.heartbeat),
            Message(.fetch, FetchBody(kind: "weights", sha256: "W")),
            Message(.progress, ProgressBody(lease: "e-1", iteration: 1, iterations: 2, loss: 1)),
            Message(
                .result, ResultBody(lease: "e-1", seconds: 1, loss: 1), payload: [[UInt8](repeating: 0, count: 48)]),
            Message(.failed, FailedBody(lease: "e-1", reason: "r")),
            Message(.submit, SubmitBody(spec: fullSpec), payload: Array(repeating: [1], count: fullSpec.inputCount)),
            Message(.submit, SubmitBody(spec: CoreHarness.smallSpec()), payload: [[1], [2]]),
            Message(.status, StatusBody(job: "j1")),
            Message(.cancel, CancelBody(job: "j1")),
            Message(.control, ControlBody(.priority, job: "j1", worker: "w", priority: 60)),
            Message(.fetchOutput, OutputRequestBody(job: "j1", offset: 0)),
            Message(.goodbye)
        ]
    }

    static var toWorker: [Message] {
        let tile = TilePlan(width: 64, height: 48, tileSize: 32, overlap: 8, margin: 4).tiles[1]
        let crop = [UInt8](repeating: 0, count: 12 * tile.render.area)
        var options = RenderOptions()
        options.optimizer = .adam(learningRate: 1, beta1: 0.9, beta2: 0.999)
        return [
            Message(
                .welcome, WelcomeBody(worker: "w-1", heartbeatSeconds: 1, liveness: 3, weights: "W", weightsBytes: 3)),
            Message(.heartbeat),
            Message(
                .assign,
                AssignBody(
                    lease: "e-1", job: "j", stage: 1, task: TileTask(level: 1, pass: 0, tile: tile, iterations: 5),
                    options: options, pooling: .max, targets: "T", reference: "R", leaseSeconds: 60),
                payload: [crop, crop]),
            Message(.blob, FetchBody(kind: "weights", sha256: ContentHash.sha256([1, 2, 3])), payload: [[1, 2, 3]]),
            Message(.reject, RejectBody(lease: "e-1", reason: "no")),
            Message(.error, ErrorBody(code: "busy", message: "m", versions: [1])),
            Message(
                .statusReply,
                StatusReplyBody(
                    jobs: [
                        JobStatus(
                            id: "j", name: "n", priority: 50, state: .running, stage: 0, stages: 2,
                            tilesDone: 1, tilesTotal: 4, workFraction: 0.5, elapsed: 3)
                    ],
                    workers: [
                        WorkerStatus(
                            id: "w", name: "w", threads: 1, tiles: 0, computeSeconds: 0,
                            leases: [], speed: 3, kernel: "k")
                    ])),
            Message(.controlled, ControlledBody(message: "ok"))
        ]
    }

    /// Every mutation, as each role, at the coordinator's core; it answers every one it can decode and keeps going.
    @Test(arguments: [PeerRole.worker, .client, .admin])
    func everyFieldAtEveryBoundaryReachesTheCoordinatorsCore(role: PeerRole) throws {
        var h = CoreHarness()
        h.callers["peer"] = Caller(key: "K-\(role.rawValue)", name: "fuzz", role: role)
        _ = h.submit(CoreHarness.smallSpec(), from: "owner")
        h.ready("honest")
        var schema = SchemaMutations(), sent = 0
        let corpus = Self.toCoordinator
        while schema.completedRounds == 0 {
            let frames = schema.next(corpus)
            sent += 1
            guard let m = try? Message(frames: frames) else { continue }  // framing refused, as the shell does
            h.receive(m, from: "peer")
            if sent % 100 == 0 { h.advance(to: h.now + 0.5) }
        }
        #expect(sent > 1000, "\(sent) mutations")
        let refusals = h.commands(to: "peer").filter { $0 == .error || $0 == .reject }.count
        #expect(refusals > sent / 4, "\(refusals) refusals of \(sent)")
        h.receive(Message(.status, StatusBody()), from: "owner")
        #expect(
            h.sent(to: "owner", .statusReply, as: StatusReplyBody.self).last?.jobs.isEmpty == false,
            "the core still answers")
    }

    /// Every mutation of every message a worker receives, at its state machine: refused or acted on, never a trap.
    @Test func everyFieldAtEveryBoundaryReachesTheWorkersMachine() throws {
        var machine = WorkerMachine(
            identity: .init(name: "w", threads: 1, cores: 1, memoryLimit: 1 << 30, kernel: "k", host: "h"),
            timing: .init())
        _ = machine.handle(.start(now: 0))
        var schema = SchemaMutations(), sent = 0, failedBack = 0
        let corpus = Self.toWorker
        while schema.completedRounds == 0 {
            let frames = schema.next(corpus)
            sent += 1
            let message = Result { try Message(frames: frames) }.mapError {
                $0 as? ProtocolError ?? .malformedBody("\($0)")
            }
            let actions = machine.handle(.received(message, now: Double(sent) * 0.01))
            failedBack += actions.filter { if case let .send(m) = $0 { m.command == .failed } else { false } }.count
            if case .backingOff = machine.connection { _ = machine.handle(.tick(now: Double(sent) * 0.01 + 100)) }
        }
        #expect(sent > 500 && failedBack > 0, "\(sent) mutations, \(failedBack) assignments refused under their lease")
    }
}
