import FarmProtocol
import Foundation
import Imaging
import StyleCore
import Testing
import Tiling

/// A bounded, seeded mutation fuzz of everything a coordinator or worker decodes from the wire.
@Suite struct ProtocolFuzzTests {
    /// Valid messages of every kind to start from.
    static var seeds: [Message] {
        let tile = TilePlan(width: 64, height: 48, tileSize: 32, overlap: 8, margin: 4).tiles[1]
        let targets = GramTargets(layers: ["relu1_1"], channels: ["relu1_1": 2], grams: ["relu1_1": [1, 2, 3, 4]])
        return [
            Message(.ready, ReadyBody(name: "w", threads: 2, versions: [1], weights: nil, busy: ["a-1"])),
            Message(
                .welcome, WelcomeBody(worker: "w", heartbeatSeconds: 1, liveness: 3, weights: "ab", weightsBytes: 10)),
            Message(.heartbeat),
            Message(
                .assign,
                AssignBody(
                    lease: "e-1", job: "j", stage: 1, task: TileTask(level: 1, pass: 0, tile: tile, iterations: 5),
                    options: RenderOptions(), pooling: .max, targets: "t", reference: nil, leaseSeconds: 60),
                payload: [
                    [UInt8](repeating: 0, count: 12 * tile.render.area),
                    [UInt8](repeating: 0, count: 12 * tile.render.area)
                ]),
            Message(.progress, ProgressBody(lease: "e-1", iteration: 3, iterations: 5, loss: 1e9)),
            Message(
                .result, ResultBody(lease: "e-1", seconds: 2, loss: 1e9), payload: [[UInt8](repeating: 0, count: 48)]),
            Message(.failed, FailedBody(lease: "e-1", reason: "x")),
            Message(.fetch, FetchBody(kind: "targets", sha256: "00")),
            Message(.blob, FetchBody(kind: "targets", sha256: "00"), payload: [TargetsCodec.encode(targets)]),
            Message(
                .submit,
                SubmitBody(
                    spec: JobSpec(
                        name: "n",
                        poster: PosterJob(
                            content: PlanarImage(width: 1, height: 1, channels: 3, fill: 0),
                            styles: [], width: 64, height: 64
                        ).settings,
                        styleWeights: [1], crop: true)), payload: [[1, 2], [3]]),
            Message(.status, StatusBody(job: nil)),
            Message(.cancel, CancelBody(job: "j")),
            Message(.error, ErrorBody(code: "version", message: "m", versions: [1]))
        ]
    }

    /// Decodes as a coordinator or worker would; only typed errors may come out.
    static func decodeLikeAPeer(_ frames: [[UInt8]]) {
        guard let m = try? Message(frames: frames) else { return }
        _ = try? m.decode(ReadyBody.self)
        _ = try? m.decode(AssignBody.self)
        _ = try? m.decode(ResultBody.self)
        _ = try? m.decode(SubmitBody.self).spec.validate()
        _ = try? m.decode(StatusReplyBody.self)
        for p in m.payload {
            _ = try? TargetsCodec.decode(p)
            _ = try? PixelCodec.decode(p, width: 2, height: 2)
        }
    }

    @Test func mutatedMessagesNeverCrashAndValidOnesRoundTrip() throws {
        var rng = FuzzRNG(state: 20261125)
        var rejected = 0, accepted = 0
        for round in 0 ..< 6000 {
            var frames = Self.seeds[round % Self.seeds.count].frames
            switch rng.next() % 6 {
            case 0:  // flip bytes
                let f = Int(rng.next() % UInt64(frames.count))
                for _ in 0 ..< 1 + Int(rng.next() % 8) where !frames[f].isEmpty {
                    frames[f][Int(rng.next() % UInt64(frames[f].count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                }
            case 1:  // truncate a frame
                let f = Int(rng.next() % UInt64(frames.count))
                frames[f] = Array(frames[f].prefix(Int(rng.next() % UInt64(frames[f].count + 1))))
            case 2:  // drop or duplicate frames
                if rng.next() % 2 == 0 {
                    frames.removeLast()
                } else {
                    frames += Array(repeating: frames.last!, count: Int(rng.next() % 12))
                }
            case 3:  // random bytes
                frames = (0 ..< Int(rng.next() % 4)).map { _ in
                    (0 ..< Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                }
            case 4:  // a JSON body with wrong types
                if frames.count > 1 {
                    frames[1] = Array(#"{"lease": 5, "name": [1], "versions": "1", "task": null, "spec": {}}"#.utf8)
                }
            default:  // splice another message's body
                if frames.count > 1 { frames[1] = Self.seeds[Int(rng.next() % UInt64(Self.seeds.count))].body }
            }
            Self.decodeLikeAPeer(frames)
            if let m = try? Message(frames: frames) {
                accepted += 1
                #expect(m.frames == frames, "a decoded message re-encodes to the same frames")
            } else {
                rejected += 1
            }
        }
        #expect(
            rejected > 1000 && accepted > 100,
            "the mutations reach both outcomes (\(rejected) rejected, \(accepted) accepted)")
    }

    /// A thousand workers' statuses are far more than a 64 KiB body: the reply moves to a payload frame and reads back whole.
    @Test func aLargeStatusReplyTravelsInItsPayload() throws {
        let workers = (0 ..< 1000).map {
            WorkerStatus(
                id: WorkerID("worker-\($0)"), name: "node\($0)", threads: 8, tiles: $0, computeSeconds: 1.5,
                leases: [LeaseToken("e-\($0)")],
                memoryLimit: 1 << 33, speed: 1e5)
        }
        let big = StatusReplyBody(jobs: [], workers: workers).message
        #expect(big.body.count <= FarmProtocol.Limits.maxBody && big.payload.count == 1)
        let wire = try Message(frames: big.frames)
        let read = try StatusReplyBody.decode(wire)
        #expect(
            read.workers.count == 1000 && read.workers[999].id == "worker-999" && read.workers[5].memoryLimit == 1 << 33
        )
        let small = StatusReplyBody(jobs: [], workers: Array(workers.prefix(3))).message
        let smallRead = try StatusReplyBody.decode(small)
        #expect(small.payload.isEmpty && smallRead.workers.count == 3)
    }

    @Test func framingErrorsAreTyped() {
        #expect(throws: ProtocolError.tooFewFrames) { try Message(frames: [[0x53, 0x46, 1, 1]]) }
        #expect(throws: ProtocolError.badHeader) { try Message(frames: [[0x53, 0x46, 1], Array("{}".utf8)]) }
        #expect(throws: ProtocolError.unsupportedVersion(1), "version 1's tolerance meant another rule") {
            try Message(frames: [[0x53, 0x46, 1, 1], Array("{}".utf8)])
        }
        #expect(throws: ProtocolError.unsupportedVersion(9)) {
            try Message(frames: [[0x53, 0x46, 9, 1], Array("{}".utf8)])
        }
        #expect(throws: ProtocolError.unknownCommand(0x7f)) {
            try Message(frames: [[0x53, 0x46, FarmProtocol.version, 0x7f], Array("{}".utf8)])
        }
        #expect(throws: ProtocolError.bodyTooLarge(70000)) {
            try Message(frames: [[0x53, 0x46, FarmProtocol.version, 1], [UInt8](repeating: 32, count: 70000)])
        }
        #expect(throws: ProtocolError.tooManyFrames) {
            try Message(frames: Message(.heartbeat).frames, truncated: true)
        }
        #expect(throws: ProtocolError.self) {
            try PixelCodec.decode([0, 0, 0x80, 0x7f] + [UInt8](repeating: 0, count: 44), width: 2, height: 2)
        }
    }
}
