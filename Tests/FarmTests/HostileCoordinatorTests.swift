import FarmProtocol
import FarmTransport
import Foundation
import StyleCore
import Testing
import Tiling

/// The other direction (Docs/security.md, "Threat model"): a hostile coordinator sends a real worker process every
/// message kind it could receive, mutated field by field (`SchemaMutations`) and at random, blobs whose SHA-256 is
/// right but whose bytes are garbage included. The worker must refuse each and keep serving: alive throughout, and
/// at the end it still registers and asks for the weights a valid `welcome` names.
@Suite(.serialized, .timeLimit(.minutes(4))) struct HostileCoordinatorTests {
    static var messages: Int {
        ProcessInfo.processInfo.environment["STYLEFARM_FUZZ_MESSAGES"].flatMap(Int.init) ?? 4000
    }

    static func corpus(_ rng: inout FuzzRNG) -> [Message] {
        let tile = TilePlan(width: 64, height: 48, tileSize: 32, overlap: 8, margin: 4).tiles[1]
        let crop = [UInt8](repeating: 0, count: 12 * tile.render.area)
        let garbage = (0 ..< 2048).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let weights = ContentHash.sha256(Array(garbage.prefix(1024)))
        return [
            Message(
                .welcome,
                WelcomeBody(worker: "w-1", heartbeatSeconds: 1, liveness: 3, weights: weights, weightsBytes: 1024)),
            Message(.heartbeat),
            Message(
                .assign,
                AssignBody(
                    lease: LeaseToken("e-\(rng.next() % 1000)"), job: "j", stage: 1,
                    task: TileTask(level: 1, pass: 0, tile: tile, iterations: 5),
                    options: RenderOptions(), pooling: .max, targets: ContentHash.sha256(garbage), reference: weights,
                    leaseSeconds: 60), payload: [crop, crop]),
            // Right SHA-256, garbage bytes: the worker decodes them, and must refuse them.
            Message(.blob, FetchBody(kind: "weights", sha256: weights), payload: [Array(garbage.prefix(1024))]),
            Message(.blob, FetchBody(kind: "targets", sha256: ContentHash.sha256(garbage)), payload: [garbage]),
            Message(.reject, RejectBody(lease: "e-1", reason: "no")),
            Message(.error, ErrorBody(code: "busy", message: "try later", versions: [1])),
            Message(.fetch, FetchBody(kind: "weights", sha256: weights)),
            Message(.statusReply, StatusReplyBody(jobs: [], workers: [])),
            Message(.submitted, SubmittedBody(job: "j")),
            Message(.output, OutputBody(job: "j", file: "out.png"))
        ]
    }

    @Test func aHostileCoordinatorNeverStopsAWorker() throws {
        let farm = try TestFarm()
        let router = try ZMQSocket(.router)
        try router.setHighWaterMarks(1000)
        _ = try router.bind(farm.endpoint)
        try farm.startWorker()
        var rng = FuzzRNG(state: 20_261_207)
        var schema = SchemaMutations()
        var peer: [UInt8]?
        var sent = 0, heard: [String: Int] = [:]
        func listen(_ timeout: Double) -> [(Message, [UInt8])] {
            var got: [(Message, [UInt8])] = []
            while let (frames, _, _) = try? router.receive(timeout: got.isEmpty ? timeout : 0), frames.count >= 2 {
                peer = frames[0]
                guard let m = try? Message(frames: Array(frames.dropFirst())) else { continue }
                heard["\(m.command)", default: 0] += 1
                got.append((m, frames[0]))
            }
            return got
        }
        let deadline = Date().addingTimeInterval(30)
        while peer == nil && Date() < deadline { _ = listen(0.2) }
        try #require(peer != nil, "the worker said ready")
        for i in 0 ..< Self.messages {
            _ = listen(0)
            let corpus = Self.corpus(&rng)
            let frames: [[UInt8]]
            if i % 2 == 0 {
                frames = schema.next(corpus)
            } else {
                let seed = corpus[Int(rng.next() % UInt64(corpus.count))]
                var f = seed.frames
                if rng.next() % 4 != 0, let object = try? JSONSerialization.jsonObject(with: Data(f[1])),
                    let data = try? JSONSerialization.data(
                        withJSONObject: HostilePeer.mutateJSON(object, &rng), options: [.fragmentsAllowed])
                {
                    f[1] = [UInt8](data)
                }
                if rng.next() % 8 == 0, f.count > 2 {
                    f[2] = Array(f[2].prefix(Int(rng.next() % UInt64(f[2].count + 1))))
                }
                frames = f
            }
            if let peer, (try? router.send([peer] + frames)) == true { sent += 1 }
            if i % 200 == 0 {
                #expect(farm.workers[0].process.isRunning, "the worker died at message \(i)")
                if !farm.workers[0].process.isRunning { break }
            }
        }
        #expect(farm.workers[0].process.isRunning, "the worker outlived \(sent) hostile messages")
        // Still serving: it registers (again, if it backed off) and asks for the weights a valid welcome names.
        let wanted = ContentHash.sha256(Array("the real weights".utf8))
        var asked = false
        let end = Date().addingTimeInterval(60)
        while !asked && Date() < end {
            if let peer {
                _ = try? router.send(
                    [peer]
                        + Message(
                            .welcome,
                            WelcomeBody(
                                worker: "w-1", heartbeatSeconds: 1, liveness: 30, weights: wanted,
                                weightsBytes: 100)
                        ).frames)
            }
            asked = listen(0.5).contains { m, _ in
                m.command == .fetch && (try? m.decode(FetchBody.self))?.sha256 == wanted
            }
        }
        print(
            "hostile coordinator: \(sent) messages sent, heard \(heard.sorted { $0.key < $1.key }), schema rounds \(schema.completedRounds)"
        )
        #expect(asked, "the worker still answers a valid welcome: \(farm.workers[0].output.suffix(2000))")
        #expect(schema.completedRounds >= 1, "every field of every message kind was tried")
        #expect((heard["failed"] ?? 0) > 0, "bad assignments were refused under their lease")
        farm.workers[0].signal(SIGTERM)
        farm.workers[0].process.waitUntilExit()
    }
}
