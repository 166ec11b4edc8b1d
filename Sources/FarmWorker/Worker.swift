import FarmProtocol
import FarmTransport
import Foundation
import Imaging
import StyleCore
import VGGWeights

/// A farm worker: one DEALER socket owned by the network thread (the one that calls `run`), and one compute
/// thread that renders tiles. The network thread answers heartbeats and forwards progress whatever the
/// compute thread is doing, so a long tile never makes the worker look dead.
///
/// Lifecycle (Docs/protocol.md, "Worker"): connect and say `ready`; on `welcome`, fetch the weights if the
/// local cache lacks them; then take `assign`s, fetching each job's Gram targets once. When the coordinator
/// falls silent for heartbeat × liveness, close the socket and reconnect after a backoff of 1 s doubling to 32 s.
public final class Worker: @unchecked Sendable {
    public struct Config: Sendable {
        public var endpoint: String
        public var name: String
        public var threads: Int
        /// Where fetched weights are cached (`weights/SHA.sfw`).
        public var cacheDirectory: URL
        /// Weights already on this machine, used when their SHA-256 matches the farm's.
        public var localWeights: URL?
        /// Exit when this process is no longer the parent (embedded farms).
        public var parentPID: Int32?
        /// CURVE keys, or plaintext.
        public var security = ClientSecurity.plaintext
        /// The most planned peak memory of a tile to accept (bytes); nil: this machine's physical memory.
        public var maxMemory: Int?
        /// Testing and demos only: sleep (slowdown − 1) × each iteration's compute time, as a machine under other
        /// load would. The speed reported in `ready` is measured without it, so the coordinator learns it from results.
        public var slowdown = 1.0
        public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("worker: " + $0 + "\n").utf8)) }
        public init(endpoint: String, name: String, threads: Int, cacheDirectory: URL) {
            self.endpoint = endpoint
            self.name = name
            self.threads = threads
            self.cacheDirectory = cacheDirectory
        }
    }

    struct Assignment {
        var body: AssignBody
        var content: PlanarImage
        var canvas: PlanarImage
        var temporal: TemporalTarget?
        var targets: GramTargets
        var reference: GramTargets?
    }

    public let config: Config
    var socket: ZMQSocket?
    var welcomed = false
    var heartbeat = 1.0
    var liveness = 3
    var lastHeard = 0.0
    var lastSent = 0.0
    var connectedAt = 0.0
    var backoff = 1.0
    var weightsSHA: String?
    var network: VGG19?
    /// Pixel-iterations per second, measured when the weights load.
    var speed: Double?
    var targetsCache: [String: GramTargets] = [:]
    /// Assignments waiting for their Gram targets.
    var waiting: [(AssignBody, [[UInt8]])] = []
    let clock = ContinuousClock.now

    // Shared with the compute thread (under `lock`).
    let lock = NSLock()
    let workAvailable = DispatchSemaphore(value: 0)
    var queue: [Assignment] = []
    var outbox: [Message] = []
    var computing: Set<String> = []
    /// Leases the coordinator rejected (revoked, lapsed): dropped from the queue, or stopped mid-render.
    var cancelled: Set<String> = []
    /// Tiles rendered and compute seconds, for reports.
    public private(set) var tilesDone = 0

    public init(config: Config) {
        self.config = config
    }

    var now: Double {
        let d = clock.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Runs until `stop` returns true or, with `parentPID`, the parent exits. A worker outlives coordinator
    /// restarts: it reconnects and says `ready` again.
    public func run(until stop: @escaping () -> Bool) {
        Compute.configure(threads: config.threads)  // before cacheWeights, which measures the speed `ready` reports
        if let w = config.localWeights, let bytes = try? [UInt8](Data(contentsOf: w)) { cacheWeights(bytes, store: false) }
        let compute = Thread { [self] in computeLoop() }
        compute.stackSize = 16 << 20
        compute.start()
        connect()
        while !stop() {
            if let p = config.parentPID, getppid() != p { break }
            do {
                if let socket, let (frames, truncated) = try socket.receive(timeout: 0.1, maxFrames: FarmProtocol.Limits.maxFrames + 1) {
                    lastHeard = now
                    handle(frames: frames, truncated: truncated)
                }
            } catch {
                config.log("receive failed: \(error)")
            }
            flushOutbox()
            let t = now
            if welcomed, t - lastSent >= heartbeat { send(Message(.heartbeat)) }
            let silent = welcomed ? t - lastHeard > heartbeat * Double(liveness) : t - connectedAt > 10
            if silent { reconnect() }
        }
        if welcomed { send(Message(.goodbye)) }
        socket?.close()
    }

    func connect() {
        do {
            let s = try ZMQSocket(.dealer)
            try config.security.apply(to: s)
            try s.setRoutingID(Array("\(config.name)-\(getpid())-\(UInt16.random(in: 0 ... .max))".utf8))
            try s.setMaxFrameSize(FarmProtocol.Limits.maxFrameSize)
            try s.connect(config.endpoint)
            socket = s
        } catch {
            config.log("cannot connect to \(config.endpoint): \(error)")
            socket = nil
        }
        welcomed = false
        connectedAt = now
        lock.lock()
        let busy = Array(computing)
        lock.unlock()
        send(Message(.ready, ReadyBody(name: config.name, threads: config.threads, versions: FarmProtocol.versions,
                                       weights: weightsSHA, busy: busy, cores: ProcessInfo.processInfo.activeProcessorCount,
                                       memoryLimit: config.maxMemory ?? Int(clamping: ProcessInfo.processInfo.physicalMemory),
                                       speed: speed)))
    }

    func reconnect() {
        config.log(welcomed ? "coordinator silent; reconnecting in \(Int(backoff)) s" : "no answer from \(config.endpoint); retrying in \(Int(backoff)) s")
        socket?.close()
        socket = nil
        waiting = []
        Thread.sleep(forTimeInterval: backoff)
        backoff = min(32, backoff * 2)
        connect()
    }

    func send(_ m: Message) {
        guard let socket else { return }
        if (try? socket.send(m.frames)) == true { lastSent = now }
    }

    func flushOutbox() {
        lock.lock()
        let out = outbox
        outbox = []
        lock.unlock()
        out.forEach(send)
    }

    func handle(frames: [[UInt8]], truncated: Bool) {
        let m: Message
        do {
            m = try Message(frames: frames, truncated: truncated)
        } catch {
            config.log("bad message from the coordinator: \(error)")
            return
        }
        do {
            switch m.command {
            case .welcome:
                let body = try m.decode(WelcomeBody.self)
                welcomed = true
                backoff = 1
                heartbeat = body.heartbeatSeconds
                liveness = body.liveness
                config.log("joined \(config.endpoint) as \(body.worker)")
                if body.weights != weightsSHA { send(Message(.fetch, FetchBody(kind: "weights", sha256: body.weights))) }
            case .heartbeat:
                break
            case .reject:
                let body = try m.decode(RejectBody.self)
                config.log("coordinator rejected \(body.lease ?? "a request"): \(body.reason)")
                if let lease = body.lease { cancel(lease) }
            case .blob:
                let body = try m.decode(FetchBody.self)
                guard m.payload.count == 1, ContentHash.sha256(m.payload[0]) == body.sha256 else {
                    throw ProtocolError.malformedBody("\(body.kind) blob does not match its sha256")
                }
                if body.kind == "weights" {
                    cacheWeights(m.payload[0], store: true)
                } else {
                    targetsCache[body.sha256] = try TargetsCodec.decode(m.payload[0])
                }
                let ready = waiting.filter { canRender($0.0) }
                waiting.removeAll { canRender($0.0) }
                for (a, p) in ready { try enqueue(a, payload: p) }
            case .assign:
                let body = try m.decode(AssignBody.self)
                if !canRender(body) {
                    for sha in [body.targets] + (body.reference.map { [$0] } ?? []) where targetsCache[sha] == nil {
                        send(Message(.fetch, FetchBody(kind: "targets", sha256: sha)))
                    }
                    waiting.append((body, m.payload))
                } else {
                    try enqueue(body, payload: m.payload)
                }
            case .error:
                let body = try m.decode(ErrorBody.self)
                if body.code == "unknown-worker" || body.code == "shutdown" {
                    config.log("coordinator says \(body.code); re-registering")
                    reconnect()
                } else {
                    config.log("coordinator error \(body.code): \(body.message)")
                }
            default:
                config.log("unexpected \(m.command) from the coordinator")
            }
        } catch {
            config.log("cannot handle \(m.command): \(error)")
        }
    }

    /// Stops work under a lease that is no longer live: unqueued if not started, else stopped at its next iteration.
    func cancel(_ lease: String) {
        waiting.removeAll { $0.0.lease == lease }
        lock.lock()
        defer { lock.unlock() }
        guard computing.contains(lease) else { return }
        cancelled.insert(lease)
    }

    /// The weights, the job's targets and the stage's reference are all here.
    func canRender(_ a: AssignBody) -> Bool {
        network != nil && targetsCache[a.targets] != nil && (a.reference.map { targetsCache[$0] != nil } ?? true)
    }

    func cacheWeights(_ bytes: [UInt8], store: Bool) {
        do {
            let sha = ContentHash.sha256(bytes)
            let network = VGG19(weights: try WeightsFile.decode(bytes))
            self.network = network
            weightsSHA = sha
            speed = 1 / ResourceEstimate.secondsPerPixelIteration(network: network)
            if store {
                let dir = config.cacheDirectory.appendingPathComponent("weights")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try DurableFile.write(Data(bytes), to: dir.appendingPathComponent("\(sha).sfw"))
                config.log("weights \(sha.prefix(12)) received and cached")
            }
        } catch {
            config.log("weights rejected: \(error)")
        }
    }

    /// Checks an assignment's payload and hands it to the compute thread, or reports it failed.
    func enqueue(_ body: AssignBody, payload: [[UInt8]]) throws {
        let r = body.task.tile.render
        do {
            guard payload.count == 2 || payload.count == 4 else {
                throw ProtocolError.malformedBody("an assign carries two crops, or four with a temporal target and mask")
            }
            let content = try PixelCodec.decode(payload[0], width: r.width, height: r.height)
            let canvas = try PixelCodec.decode(payload[1], width: r.width, height: r.height)
            let temporal = payload.count == 4
                ? TemporalTarget(image: try PixelCodec.decode(payload[2], width: r.width, height: r.height),
                                 mask: try PixelCodec.decode(payload[3], width: r.width, height: r.height, channels: 1))
                : nil
            lock.lock()
            queue.append(Assignment(body: body, content: content, canvas: canvas, temporal: temporal, targets: targetsCache[body.targets]!,
                                    reference: body.reference.flatMap { targetsCache[$0] }))
            computing.insert(body.lease)
            lock.unlock()
            workAvailable.signal()
        } catch {
            send(Message(.failed, FailedBody(lease: body.lease, reason: "\(error)")))
        }
    }

    func post(_ m: Message) {
        lock.lock()
        outbox.append(m)
        lock.unlock()
    }

    func computeLoop() {
        while true {
            workAvailable.wait()
            lock.lock()
            let a = queue.removeFirst()
            let skip = cancelled.contains(a.body.lease)
            lock.unlock()
            guard !skip else {
                finish(a.body.lease)
                continue
            }
            guard let base = network else { continue }
            let net = base.pooling == a.body.pooling ? base : base.with(pooling: a.body.pooling)
            let renderer = TileRenderer(network: net, options: a.body.options, targets: a.targets)
            let started = now
            var lastProgress = started, lastIteration = started
            var lastLoss = 0.0
            let stop = { [self] () -> Bool in
                lock.lock()
                defer { lock.unlock() }
                return cancelled.contains(a.body.lease)
            }
            let core = renderer.render(a.body.task, contentCrop: a.content, canvasCrop: a.canvas,
                                       reference: a.reference, temporal: a.temporal, stop: stop) { p in
                lastLoss = p.bestLoss
                if config.slowdown > 1 { Thread.sleep(forTimeInterval: (config.slowdown - 1) * (now - lastIteration)) }
                let t = now
                lastIteration = t
                if t - lastProgress >= 0.5 {
                    lastProgress = t
                    post(Message(.progress, ProgressBody(lease: a.body.lease, iteration: p.iteration, iterations: p.iterations, loss: p.loss)))
                }
            }
            guard !finish(a.body.lease) else {
                config.log("stopped \(a.body.lease): the coordinator revoked it")
                continue
            }
            post(Message(.result, ResultBody(lease: a.body.lease, seconds: now - started, loss: lastLoss),
                         payload: [PixelCodec.encode(core)]))
        }
    }

    /// Forgets a lease's work; returns whether it had been cancelled. A cancelled lease is given up with `failed`
    /// instead of a result, so that a coordinator still counting it as `busy` (from a reconnect) frees the credit.
    @discardableResult
    func finish(_ lease: String) -> Bool {
        lock.lock()
        computing.remove(lease)
        let wasCancelled = cancelled.remove(lease) != nil
        if !wasCancelled { tilesDone += 1 }
        lock.unlock()
        if wasCancelled { post(Message(.failed, FailedBody(lease: lease, reason: "stopped: the lease was revoked"))) }
        return wasCancelled
    }
}
