import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Testing

/// The live hostile-peer fuzzer (Docs/security.md, "Threat model"): a real coordinator process renders a good job on
/// two real workers while an authenticated peer of each role (worker, client, admin) sends thousands of messages
/// mutated from a corpus of valid ones, plus the hand-made cases that once crashed the coordinator. The coordinator
/// must never die, the good job's output must equal the fault-free one, and every refusal must be counted.
///
/// `STYLEFARM_FUZZ_MESSAGES` (messages per peer, 1000 here) and `STYLEFARM_FUZZ_SEED` are for
/// `Tests/Chaos/hostile-soak.sh`, which runs it longer and with many seeds; CI runs the default.
@Suite(.serialized, .timeLimit(.minutes(6))) struct HostilePeerTests {
    static var messagesPerPeer: Int { ProcessInfo.processInfo.environment["STYLEFARM_FUZZ_MESSAGES"].flatMap(Int.init) ?? 1000 }
    static var seed: UInt64 { ProcessInfo.processInfo.environment["STYLEFARM_FUZZ_SEED"].flatMap(UInt64.init) ?? .random(in: 1 ... 1_000_000) }

    @Test func hostilePeersOfEveryRoleNeverStopTheFarm() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let keys = farm.dir.appendingPathComponent("keys")
        func pair(_ name: String, _ role: String) throws -> CurveKeyPair {
            let p = try CurveKeyPair.generate()
            _ = try p.write(directory: keys.appendingPathComponent(role), name: name)
            return p
        }
        let server = try pair("coordinator", "server")
        _ = try pair("worker", "workers")
        let client = try pair("client", "clients"), observer = try pair("observer", "admins")
        let fuzzKeys: [(PeerRole, CurveKeyPair)] = [(.worker, try pair("fuzz-worker", "workers")), (.client, try pair("fuzz-client", "clients")),
                                                     (.admin, try pair("fuzz-admin", "admins"))]
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0", "--lease-seconds", "20"],
                                  security: ["--curve-secret", keys.appendingPathComponent("server/coordinator.key").path,
                                             "--allow-workers", keys.appendingPathComponent("workers").path,
                                             "--allow-clients", keys.appendingPathComponent("clients").path,
                                             "--allow-admins", keys.appendingPathComponent("admins").path])
        let base = try farm.dashboardURL()
        for _ in 0 ..< 2 {
            try farm.startWorker(security: ["--server-key=\(server.publicKey)", "--curve-secret", keys.appendingPathComponent("workers/worker.key").path])
        }
        farm.clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: client)
        let job = try SmallJob.submit(farm.client)
        let admin = FarmClient(endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: observer), timeout: 5, retries: 2)
        let droppedBefore = try Self.metric("stylefarm_messages_dropped_total", base)

        let seed = Self.seed
        var rng = FuzzRNG(state: seed)
        let peers = try fuzzKeys.map { role, keys in try HostilePeer(role: role, endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: keys)) }
        var world = HostilePeer.World(goodJob: job)
        for peer in peers { peer.sendHandMadeCases(&world) }
        for round in 0 ..< Self.messagesPerPeer {
            if round % 50 == 0, let view = try? admin.status() {
                world.leases = view.workers.flatMap(\.leases)
                world.jobs = view.jobs.map(\.id)
            }
            for peer in peers { peer.step(&rng, &world) }
            #expect(farm.coordinator?.process.isRunning == true, "the coordinator died at round \(round) (seed \(seed))")
            if farm.coordinator?.process.isRunning != true { break }
        }
        Thread.sleep(forTimeInterval: 1)
        for peer in peers { peer.drain(&world) }

        #expect(try farm.finish(job, seconds: 240) == reference, "the good job's output is the fault-free one (seed \(seed))")
        #expect(farm.coordinator?.process.isRunning == true)
        let dropped = try Self.metric("stylefarm_messages_dropped_total", base) - droppedBefore
        let refusals = peers.reduce(0) { $0 + $1.refusals }
        #expect(Double(refusals) <= dropped, "every refusal a peer saw is counted (\(refusals) seen, \(Int(dropped)) counted)")
        #expect(refusals > Self.messagesPerPeer, "the mutations reach the refusals")
        let summary = peers.map { "\($0.role.rawValue): \($0.sent) sent, \($0.refusals) refused, replies \($0.replies.sorted { $0.key < $1.key })" }
        print("hostile peers (seed \(seed)): \(Int(dropped)) refusals counted; " + summary.joined(separator: "; "))
        farm.coordinator?.signal(SIGTERM)
        farm.coordinator?.process.waitUntilExit()
        #expect(farm.coordinator?.process.terminationStatus == 0, "a clean stop after the storm")
    }

    static func metric(_ name: String, _ base: String) throws -> Double {
        let text = String(decoding: try httpGet(base + "metrics").1, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    }
}

/// SplitMix64: a seeded generator, so a failing run can be replayed with its seed.
struct FuzzRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One authenticated fuzzing peer: a DEALER with its own key, sending mutated messages and reading what comes back.
final class HostilePeer {
    /// What the peers know of the farm: the good job (which no mutation may legitimately end: an admin's cancels
    /// never name it), other jobs, live leases (anyone's), the weights' SHA-256.
    struct World {
        var goodJob: String
        var jobs: [String] = []
        var leases: [String] = []
        var weights = "00"
    }

    let role: PeerRole
    let socket: ZMQSocket
    var sent = 0
    /// Answers that refuse (`error`, `reject`).
    var refusals = 0
    var replies: [String: Int] = [:]
    /// Leases the coordinator gave this peer (when it said `ready` as a worker or admin), with their tiles' core size.
    var own: [(lease: String, pixels: Int)] = []
    var submitted: [String] = []

    init(role: PeerRole, endpoint: String, security: ClientSecurity) throws {
        self.role = role
        socket = try ZMQSocket(.dealer)
        try security.apply(to: socket)
        try socket.setHighWaterMarks(1000)
        try socket.connect(endpoint)
    }

    func send(_ frames: [[UInt8]]) {
        if (try? socket.send(frames)) == true { sent += 1 }
    }

    /// Reads every answer waiting. A lease it is given is failed at once (cleanly), so the good job never waits on
    /// a hostile worker; it never returns a tile that could pass for a rendering.
    func drain(_ world: inout World) {
        while let (frames, _, _) = try? socket.receive(timeout: 0) {
            guard let m = try? Message(frames: frames) else {
                replies["undecodable", default: 0] += 1
                continue
            }
            switch m.command {
            case .error:
                refusals += 1
                replies["error:" + ((try? m.decode(ErrorBody.self).code) ?? "?"), default: 0] += 1
            case .reject:
                refusals += 1
                replies["reject", default: 0] += 1
            case .assign:
                replies["assign", default: 0] += 1
                if let a = try? m.decode(AssignBody.self) {
                    own.append((a.lease, 12 * a.task.tile.core.area))
                    send(Message(.failed, FailedBody(lease: a.lease, reason: "hostile peer")).frames)
                }
            case .welcome:
                replies["welcome", default: 0] += 1
                if let w = try? m.decode(WelcomeBody.self) { world.weights = w.weights }
            case .submitted:
                replies["submitted", default: 0] += 1
                if let s = try? m.decode(SubmittedBody.self) { submitted.append(s.job) }
            default:
                replies["\(m.command)", default: 0] += 1
            }
        }
    }

    /// One message: a valid one from the corpus (a fifth of the time), or a mutation of one.
    func step(_ rng: inout FuzzRNG, _ world: inout World) {
        drain(&world)
        let corpus = self.corpus(world, &rng)
        let seed = corpus[Int(rng.next() % UInt64(corpus.count))]
        send(rng.next() % 5 == 0 ? seed.frames : mutate(seed, corpus: corpus, world: world, &rng))
    }

    /// Valid messages of every command a peer may send (and some it may not), naming real leases and jobs.
    func corpus(_ world: World, _ rng: inout FuzzRNG) -> [Message] {
        func pick(_ xs: [String], _ fallback: String) -> String { xs.isEmpty ? fallback : xs[Int(rng.next() % UInt64(xs.count))] }
        let anyLease = pick(world.leases + own.map(\.lease), "e-1")
        // Jobs it may name: anyone's for a worker or client (they are refused), but an admin only its own submissions,
        // since an admin may cancel any job and the good job must finish.
        let job = role == .admin ? pick(submitted, "j0") : pick(world.jobs + submitted, world.goodJob)
        let outOfRange = [UInt8](repeating: 0x40, count: own.last?.pixels ?? 48)  // 0x40404040 = 3.0: never a rendering
        return [
            Message(.ready, ReadyBody(name: "hostile-\(role)", threads: 1, versions: FarmProtocol.versions, busy: [])),
            Message(.heartbeat),
            Message(.fetch, FetchBody(kind: "weights", sha256: world.weights)),
            Message(.fetch, FetchBody(kind: "targets", sha256: String(repeating: "ab", count: 32))),
            Message(.progress, ProgressBody(lease: anyLease, iteration: 1, iterations: 2, loss: 1)),
            Message(.result, ResultBody(lease: anyLease, seconds: 5e-324, loss: 1), payload: [outOfRange]),
            Message(.failed, FailedBody(lease: pick(world.leases, "e-1"), reason: "not mine")),
            Message(.submit, SubmitBody(spec: SmallJob.spec), payload: [Array("not an image".utf8), [0xFF, 0xD8, 0xFF]]),
            Message(.status, StatusBody(job: rng.next() % 2 == 0 ? nil : job)),
            Message(.cancel, CancelBody(job: job)),
            Message(.fetchOutput, StatusBody(job: job)),
            Message(.goodbye),
        ]
    }

    /// The cases that crashed the coordinator or a worker before (issue 21), sent once by each peer.
    func sendHandMadeCases(_ world: inout World) {
        var specs: [JobSpec] = []
        for history in [Int.max, 0] {
            var spec = SmallJob.spec
            spec.poster.options.optimizer = .lbfgs(history: history)
            specs.append(spec)
        }
        var huge = SmallJob.spec
        (huge.poster.width, huge.poster.height) = (4_294_967_296, 4_294_967_296)
        for spec in specs + [huge] { send(Message(.submit, SubmitBody(spec: spec), payload: [[1], [2]]).frames) }
        send(Message(.fetch, FetchBody(kind: "weights", sha256: world.weights)).frames)  // before `ready`
        send(Message(.result, ResultBody(lease: world.leases.first ?? "e-1", seconds: 5e-324, loss: 1), payload: [[0]]).frames)
        drain(&world)
    }

    /// Values that break naive code: huge, negative, tiny, non-integral, wrong types.
    static var poison: [Any] { [Int64.max, Int64.min, -1, 0, 4_294_967_296, 1e308, -1e308, 5e-324, 0.5, "x", "", [Any](), [String: Any](),
                                NSNull(), true, String(repeating: "A", count: 70_000)] }

    /// A mutation of `seed`: a JSON field replaced, removed or added; a number made non-finite; frames dropped,
    /// duplicated, added, or made huge; the header broken; another message's body or another peer's lease or job.
    func mutate(_ seed: Message, corpus: [Message], world: World, _ rng: inout FuzzRNG) -> [[UInt8]] {
        var frames = seed.frames
        func any<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        switch rng.next() % 10 {
        case 0, 1, 2:  // a field somewhere in the body replaced, removed or added
            guard let object = try? JSONSerialization.jsonObject(with: Data(frames[1]), options: [.fragmentsAllowed]) else { break }
            let mutated = Self.mutateJSON(object, &rng)
            if let data = try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed]) { frames[1] = [UInt8](data) }
        case 3:  // a number made non-finite (which JSON cannot hold)
            var text = String(decoding: frames[1], as: UTF8.self)
            if let r = text.range(of: #"(?<=:)-?[0-9.]+(e-?[0-9]+)?"#, options: .regularExpression) {
                text.replaceSubrange(r, with: any(["NaN", "Infinity", "-Infinity", "1e999"]))
            }
            frames[1] = Array(text.utf8)
        case 4:  // payload frames dropped, duplicated or added
            switch rng.next() % 3 {
            case 0: frames = Array(frames.prefix(2))
            case 1: frames += Array(repeating: frames.last ?? [], count: 1 + Int(rng.next() % 9))
            default: frames.append([UInt8](repeating: 0x3F, count: Int(rng.next() % 4096)))
            }
        case 5:  // a huge payload
            frames.append([UInt8](repeating: 0, count: 4 << 20))
        case 6:  // the header broken: length, magic, version or command
            frames[0][Int(rng.next() % 4)] = UInt8(truncatingIfNeeded: rng.next())
            if rng.next() % 4 == 0 { frames[0] = Array(frames[0].prefix(Int(rng.next() % 4))) }
        case 7:  // another message's body under this header
            frames[1] = any(corpus).body
        case 8:  // another peer's lease or job (not the good job for an admin, who may end it), or an unknown one
            let jobs = role == .admin ? world.jobs.filter { $0 != world.goodJob } : world.jobs
            let names = world.leases + jobs + ["", "../../etc/passwd", String(repeating: "j", count: 300)]
            var text = String(decoding: frames[1], as: UTF8.self)
            for key in ["lease", "job"] {
                if let r = text.range(of: "\"\(key)\":\"[^\"]*\"", options: .regularExpression) {
                    text.replaceSubrange(r, with: "\"\(key)\":\"\(any(names))\"")
                }
            }
            frames[1] = Array(text.utf8)
        default:  // payload bytes flipped or cut
            guard frames.count > 2 else { break }
            let f = 2 + Int(rng.next() % UInt64(frames.count - 2))
            if frames[f].isEmpty || rng.next() % 2 == 0 {
                frames[f] = Array(frames[f].prefix(Int(rng.next() % UInt64(frames[f].count + 1))))
            } else {
                for _ in 0 ..< 8 { frames[f][Int(rng.next() % UInt64(frames[f].count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
        }
        return frames
    }

    static func mutateJSON(_ value: Any, _ rng: inout FuzzRNG) -> Any {
        if var object = value as? [String: Any], !object.isEmpty {
            let keys = object.keys.sorted()
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            switch rng.next() % 6 {
            case 0: object[key] = nil
            case 1: object["unexpected\(rng.next() % 10)"] = poison[Int(rng.next() % UInt64(poison.count))]
            case 2, 3: object[key] = mutateJSON(object[key] as Any, &rng)
            default: object[key] = poison[Int(rng.next() % UInt64(poison.count))]
            }
            return object
        }
        if var array = value as? [Any] {
            if array.isEmpty || rng.next() % 3 == 0 { array.append(poison[Int(rng.next() % UInt64(poison.count))]) } else {
                let i = Int(rng.next() % UInt64(array.count))
                array[i] = mutateJSON(array[i], &rng)
            }
            return array
        }
        return poison[Int(rng.next() % UInt64(poison.count))]
    }
}
