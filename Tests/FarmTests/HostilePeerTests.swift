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
/// Half of each peer's messages are schema-driven (`SchemaMutations`): every field of every message it may send (and
/// some it may not), each set in turn to each boundary value (absent, 0, -1, Int.min, Int.max, 2^53, ±1e300, a
/// non-finite number as a string, empty, 1 MB long, the wrong type, deeply nested), so an optional field at an
/// extreme (the `"speed": 1e300` that once killed the coordinator) is always tried; the other half are random
/// mutations of valid messages.
///
/// `STYLEFARM_FUZZ_MESSAGES` (messages per peer, 7000 here: 21,000 in all) and `STYLEFARM_FUZZ_SEED` (fixed in CI) are
/// for `Tests/Chaos/hostile-soak.sh`, which runs it longer and with many seeds.
@Suite(.serialized, .timeLimit(.minutes(8))) struct HostilePeerTests {
    static var messagesPerPeer: Int {
        ProcessInfo.processInfo.environment["STYLEFARM_FUZZ_MESSAGES"].flatMap(Int.init) ?? 7000
    }
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["STYLEFARM_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_207
    }

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
        let fuzzKeys: [(PeerRole, CurveKeyPair)] = [
            (.worker, try pair("fuzz-worker", "workers")), (.client, try pair("fuzz-client", "clients")),
            (.admin, try pair("fuzz-admin", "admins"))
        ]
        try farm.startCoordinator(
            extra: ["--dashboard", "127.0.0.1:0", "--lease-seconds", "20"],
            security: [
                "--curve-secret", keys.appendingPathComponent("server/coordinator.key").path,
                "--allow-workers", keys.appendingPathComponent("workers").path,
                "--allow-clients", keys.appendingPathComponent("clients").path,
                "--allow-admins", keys.appendingPathComponent("admins").path
            ])
        let base = try farm.dashboardURL()
        for _ in 0 ..< 2 {
            try farm.startWorker(security: [
                "--server-key=\(server.publicKey)", "--curve-secret",
                keys.appendingPathComponent("workers/worker.key").path
            ])
        }
        farm.clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: client)
        let job = try SmallJob.submit(farm.client)
        let admin = FarmClient(
            endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: observer), timeout: 5,
            retries: 2)
        let droppedBefore = try Self.metric("stylefarm_messages_dropped_total", base)

        let seed = Self.seed
        var rng = FuzzRNG(state: seed)
        let peers = try fuzzKeys.map { role, keys in
            try HostilePeer(
                role: role, endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: keys))
        }
        var world = HostilePeer.World(goodJob: job.rawValue)
        for peer in peers { peer.sendHandMadeCases(&world) }
        for round in 0 ..< Self.messagesPerPeer {
            if round % 50 == 0, let view = try? admin.status() {
                world.leases = view.workers.flatMap(\.leases).map(\.rawValue)
                world.jobs = view.jobs.map(\.id.rawValue)
            }
            for peer in peers { peer.step(&rng, &world) }
            #expect(
                farm.coordinator?.process.isRunning == true, "the coordinator died at round \(round) (seed \(seed))")
            if farm.coordinator?.process.isRunning != true { break }
        }
        Thread.sleep(forTimeInterval: 1)
        for peer in peers { peer.drain(&world) }

        #expect(
            try farm.finish(job, seconds: 240) == reference,
            "the good job's output is the fault-free one (seed \(seed))")
        #expect(farm.coordinator?.process.isRunning == true)
        let dropped = try Self.metric("stylefarm_messages_dropped_total", base) - droppedBefore
        let refusals = peers.reduce(0) { $0 + $1.refusals }
        #expect(
            Double(refusals) <= dropped,
            "every refusal a peer saw is counted (\(refusals) seen, \(Int(dropped)) counted)")
        for peer in peers {
            // Each peer on its own: everything it meant to send went out, the schema reached every field of every
            // message in its corpus, its refusals are a real share of what it sent, and it was answered as its role is.
            let who = "\(peer.role.rawValue) (seed \(seed))"
            #expect(peer.sent >= Self.messagesPerPeer, "\(who): \(peer.sent) sent")
            #expect(peer.schema.completedRounds >= 1, "\(who): the schema mutations covered every field once")
            #expect(peer.refusals * 5 >= peer.sent, "\(who): \(peer.refusals) refusals of \(peer.sent)")
            #expect((peer.replies["error:body"] ?? 0) > 0, "\(who): field values refused at decode")
            switch peer.role {
            case .worker:
                #expect(
                    (peer.replies["welcome"] ?? 0) > 0 && (peer.replies["error:forbidden"] ?? 0) > 0,
                    "\(who): \(peer.replies)")
                #expect(
                    peer.replies["submitted"] == nil && peer.replies["statusReply"] == nil,
                    "\(who): a worker key never submits or reads")
            case .client:
                #expect(
                    (peer.replies["statusReply"] ?? 0) > 0 && (peer.replies["error:forbidden"] ?? 0) > 0,
                    "\(who): \(peer.replies)")
                #expect(
                    peer.replies["welcome"] == nil && peer.replies["assign"] == nil,
                    "\(who): a client key never joins as a worker")
            case .admin:
                #expect(
                    (peer.replies["statusReply"] ?? 0) > 0 && (peer.replies["welcome"] ?? 0) > 0,
                    "\(who): \(peer.replies)")
            }
        }
        let summary = peers.map {
            "\($0.role.rawValue): \($0.sent) sent, \($0.refusals) refused, replies \($0.replies.sorted { $0.key < $1.key })"
        }
        print("hostile peers (seed \(seed)): \(Int(dropped)) refusals counted; " + summary.joined(separator: "; "))
        farm.coordinator?.signal(SIGTERM)
        farm.coordinator?.process.waitUntilExit()
        #expect(farm.coordinator?.process.terminationStatus == 0, "a clean stop after the storm")
    }

    static func metric(_ name: String, _ base: String) throws -> Double {
        let text = String(decoding: try httpGet(base + "metrics").1, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
            Double($0.split(separator: " ")[1])
        } ?? 0
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
        /// Bytes of every tile core of the good job: a result of one of these sizes, in range, under another worker's
        /// lease is a result that could pass for a rendering, and must be refused for its holder alone.
        var coreBytes: [Int] = Array(Set(SmallJob.spec.stages.flatMap { $0.plan.tiles.map { 12 * $0.core.area } }))
            .sorted()
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
    var schema = SchemaMutations()
    var steps = 0

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
                replies["error:" + ((try? m.decode(ErrorBody.self).code.rawValue) ?? "?"), default: 0] += 1
            case .reject:
                refusals += 1
                replies["reject", default: 0] += 1
            case .assign:
                replies["assign", default: 0] += 1
                if let a = try? m.decode(AssignBody.self) {
                    own.append((a.lease.rawValue, 12 * a.task.tile.core.area))
                    send(Message(.failed, FailedBody(lease: a.lease, reason: "hostile peer")).frames)
                }
            case .welcome:
                replies["welcome", default: 0] += 1
                if let w = try? m.decode(WelcomeBody.self) { world.weights = w.weights }
            case .submitted:
                replies["submitted", default: 0] += 1
                if let s = try? m.decode(SubmittedBody.self) { submitted.append(s.job.rawValue) }
            default:
                replies["\(m.command)", default: 0] += 1
            }
        }
    }

    /// One message: every other one the next schema mutation; else a valid one from the corpus (a fifth of the
    /// time), or a random mutation of one.
    func step(_ rng: inout FuzzRNG, _ world: inout World) {
        drain(&world)
        steps += 1
        let corpus = self.corpus(world, &rng)
        if steps % 2 == 0 { return send(schema.next(corpus)) }
        let seed = corpus[Int(rng.next() % UInt64(corpus.count))]
        send(rng.next() % 5 == 0 ? seed.frames : mutate(seed, corpus: corpus, world: world, &rng))
    }

    /// Valid messages of every command a peer may send (and some it may not), naming real leases and jobs.
    func corpus(_ world: World, _ rng: inout FuzzRNG) -> [Message] {
        func pick(_ xs: [String], _ fallback: String) -> String {
            xs.isEmpty ? fallback : xs[Int(rng.next() % UInt64(xs.count))]
        }
        let anyLease = pick(world.leases + own.map(\.lease), "e-1")
        // Jobs it may name: anyone's for a worker or client (they are refused), but an admin only its own submissions,
        // since an admin may cancel any job and the good job must finish.
        let job = role == .admin ? pick(submitted, "j0") : pick(world.jobs + submitted, world.goodJob)
        let outOfRange = [UInt8](repeating: 0x40, count: own.last?.pixels ?? 48)  // 0x40404040 = 3.0: never a rendering
        // In range (0x3F000000 = 0.5) and of a real tile's size, under a lease that is someone else's (or none).
        let othersLease = pick(world.leases.filter { l in !own.contains { $0.lease == l } }, "e-1")
        let plausible: [UInt8] = (0 ..< world.coreBytes[Int(rng.next() % UInt64(world.coreBytes.count))]).map {
            $0 % 4 == 3 ? 0x3F : 0
        }
        // Every optional field set, so that the schema mutations find each field.
        return [
            Message(
                .ready,
                ReadyBody(
                    name: "hostile-\(role)", threads: 1, versions: FarmProtocol.versions, weights: world.weights,
                    busy: [],
                    cores: 2, memoryLimit: 1 << 30, speed: 5000, kernel: "Haswell", host: "hostile")),
            Message(.heartbeat),
            Message(.fetch, FetchBody(kind: "weights", sha256: world.weights)),
            Message(.fetch, FetchBody(kind: "targets", sha256: String(repeating: "ab", count: 32))),
            Message(.progress, ProgressBody(lease: LeaseToken(anyLease), iteration: 1, iterations: 2, loss: 1)),
            Message(.result, ResultBody(lease: LeaseToken(anyLease), seconds: 5e-324, loss: 1), payload: [outOfRange]),
            Message(.result, ResultBody(lease: LeaseToken(othersLease), seconds: 1, loss: 1), payload: [plausible]),
            Message(.failed, FailedBody(lease: LeaseToken(pick(world.leases, "e-1")), reason: "not mine")),
            Message(
                .submit, SubmitBody(spec: SmallJob.spec), payload: [Array("not an image".utf8), [0xFF, 0xD8, 0xFF]]),
            Message(.status, StatusBody(job: JobID(job))),
            Message(.cancel, CancelBody(job: JobID(job))),
            Message(.control, ControlBody(.priority, job: JobID(job), worker: "w0", priority: 50)),
            Message(.fetchOutput, OutputRequestBody(job: JobID(job), offset: 0)),
            Message(.goodbye)
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
        send(
            Message(
                .result, ResultBody(lease: LeaseToken(world.leases.first ?? "e-1"), seconds: 5e-324, loss: 1),
                payload: [[0]]
            )
            .frames)
        drain(&world)
    }

    /// Values that break naive code: huge, negative, tiny, non-integral, wrong types.
    static var poison: [Any] {
        [
            Int64.max, Int64.min, -1, 0, 4_294_967_296, 1e308, -1e308, 5e-324, 0.5, "x", "", [Any](), [String: Any](),
            NSNull(), true, String(repeating: "A", count: 70_000)
        ]
    }

    /// A mutation of `seed`: a JSON field replaced, removed or added; a number made non-finite; frames dropped,
    /// duplicated, added, or made huge; the header broken; another message's body or another peer's lease or job.
    func mutate(_ seed: Message, corpus: [Message], world: World, _ rng: inout FuzzRNG) -> [[UInt8]] {
        var frames = seed.frames
        func any<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        switch rng.next() % 10 {
        case 0, 1, 2:  // a field somewhere in the body replaced, removed or added
            guard let object = try? JSONSerialization.jsonObject(with: Data(frames[1]), options: [.fragmentsAllowed])
            else { break }
            let mutated = Self.mutateJSON(object, &rng)
            if let data = try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed]) {
                frames[1] = [UInt8](data)
            }
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
        case 5:  // a big payload frame (4 MiB one time in sixteen: it takes the coordinator's time, not its memory)
            frames.append([UInt8](repeating: 0, count: rng.next() % 16 == 0 ? 4 << 20 : 64 << 10))
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
                for _ in 0 ..< 8 {
                    frames[f][Int(rng.next() % UInt64(frames[f].count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                }
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
            if array.isEmpty || rng.next() % 3 == 0 {
                array.append(poison[Int(rng.next() % UInt64(poison.count))])
            } else {
                let i = Int(rng.next() % UInt64(array.count))
                array[i] = mutateJSON(array[i], &rng)
            }
            return array
        }
        return poison[Int(rng.next() % UInt64(poison.count))]
    }
}

/// Schema-driven mutations: each message of a peer's corpus (every optional field set), each field of its body (found
/// by walking the body's JSON, nested objects and the first element of arrays included), each boundary value in turn.
/// `next` walks that space in order and starts over, so a run of a few thousand messages tries every combination.
struct SchemaMutations {
    /// A step into a JSON value.
    enum Step { case key(String), index(Int) }

    /// What replaces a field: nil removes it; `long`, `nested` and `nonFinite` are spliced into the text (JSON cannot hold
    /// the last two as values, and serialising a megabyte for every one of them would be most of the fuzzer's time).
    static var values: [Any?] {
        [
            nil, 0, -1, Int64.min, Int64.max, 9_007_199_254_740_992, 1e300, -1e300, "nan", "-inf", "", long, [Any](),
            [String: Any](), true,
            NSNull(), nested, nonFinite
        ]
    }
    static let valueCount = values.count
    /// Spliced into the body's text after it is serialised: a string of 1 MiB, 5,000 nested arrays, a bare NaN.
    static let long = "@@LONG@@", nested = "@@NESTED@@", nonFinite = "@@NAN@@"
    static let splices = [
        long: "\"" + String(repeating: "A", count: 1 << 20) + "\"",
        nested: String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), nonFinite: "NaN"
    ]

    var message = 0, field = 0, value = 0
    private(set) var completedRounds = 0

    /// The frames of the next mutation of `corpus`.
    mutating func next(_ corpus: [Message]) -> [[UInt8]] {
        if message >= corpus.count { (message, field, value, completedRounds) = (0, 0, 0, completedRounds + 1) }
        let seed = corpus[message]
        guard let body = try? JSONSerialization.jsonObject(with: Data(seed.body)) else {
            return advance(fields: 0, seed.frames)
        }
        let paths = Self.paths(body)
        guard field < paths.count else { return advance(fields: paths.count, seed.frames) }
        let mutated = Self.replacing(body, at: paths[field][...], with: Self.values[value])
        var text = String(
            decoding: (try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed])) ?? Data(),
            as: UTF8.self)
        if let sentinel = Self.values[value] as? String, let splice = Self.splices[sentinel] {
            text = text.replacingOccurrences(of: "\"\(sentinel)\"", with: splice)
        }
        var frames = seed.frames
        frames[1] = Array(text.utf8)
        return advance(fields: paths.count, frames)
    }

    private mutating func advance(fields: Int, _ frames: [[UInt8]]) -> [[UInt8]] {
        value += 1
        if value == Self.valueCount { (value, field) = (0, field + 1) }
        if field >= fields { (field, value, message) = (0, 0, message + 1) }
        return frames
    }

    /// Every field's path in a body, containers before what they hold.
    static func paths(_ value: Any, prefix: [Step] = []) -> [[Step]] {
        if let object = value as? [String: Any] {
            return object.keys.sorted().flatMap { key in
                [prefix + [.key(key)]] + paths(object[key] as Any, prefix: prefix + [.key(key)])
            }
        }
        if let array = value as? [Any], let first = array.first {
            return [prefix + [.index(0)]] + paths(first, prefix: prefix + [.index(0)])
        }
        return []
    }

    static func replacing(_ value: Any, at path: ArraySlice<Step>, with new: Any?) -> Any {
        guard let step = path.first else { return new ?? NSNull() }
        switch step {
        case let .key(key):
            guard var object = value as? [String: Any] else { return value }
            object[key] =
                path.count == 1 && new == nil ? nil : replacing(object[key] as Any, at: path.dropFirst(), with: new)
            return object
        case let .index(i):
            guard var array = value as? [Any], i < array.count else { return value }
            if path.count == 1 && new == nil {
                array.remove(at: i)
            } else {
                array[i] = replacing(array[i], at: path.dropFirst(), with: new)
            }
            return array
        }
    }
}
