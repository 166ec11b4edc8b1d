import FarmMonitor
import FarmProtocol
import FarmScheduler
import FarmTransport
import Foundation
import Imaging
import Logging
import StyleCore
import Synchronization
import VGGWeights

/// The farm's coordinator: the shell around `CoordinatorCore`. One thread runs `run(until:)`: it reads messages
/// from the ROUTER socket, feeds them and the clock to the core, and performs the actions the core returns. The
/// socket, the core, the jobs' assets and the blob store belong to that thread; everything that reads or writes
/// files or computes (decoding, targets, crops, storing tiles, blending, writing, previews) runs on the work
/// queues and reports back through the mailbox (`Completion`), so the loop only moves messages.
///
/// Sendable unchecked: the `var`s (`core`, `inputs`, `assets`, `targets`, `pendingTiles`, `storingTiles`, `deferred`,
/// `lastStorageRetry`) and the socket are the loop thread's alone: the work queues get copies of what they need and
/// hand their results back through `mailbox`. What other threads reach (`outputURL`, `tileRecords`, `stats`, the
/// dashboard's questions, which are posted to `mailbox`) is immutable (`let`) or under a `Mutex` (`mailbox`,
/// `wireStats`). Once the loop has ended, a question is answered on the asking thread: the loop no longer runs.
public final class Coordinator: @unchecked Sendable {
    public struct Config: Sendable {
        public var bind = "tcp://*:5555"
        public var stateDirectory: URL
        public var weights: URL
        public var scheduler = FarmScheduler.Config()
        /// CURVE keys and the allowlist of client keys; nil runs plaintext (only when asked for explicitly).
        public var security: ServerSecurity?
        /// The largest frame (`setMaxFrameSize`) a peer may send: libzmq disconnects a peer that sends more.
        public var maxMessageBytes = Int64(FarmProtocol.Limits.maxPayload)  // safe-int: widening a constant
        /// A stage's content and start canvas are held in memory up to this many bytes each; bigger ones (a
        /// gigapixel canvas) are read from disk and resized per tile and strip, so memory does not grow with size.
        public var canvasMemory = 256 << 20
        /// Bytes of one output chunk (`OutputBody.chunk`; smaller in tests, so that a small output takes many).
        public var outputChunkBytes = OutputBody.chunk
        /// How long an ended job and its files are kept (`CoordinatorCore.Config.retention`); nil keeps every job.
        public var retention: Double? = CoordinatorCore.Config(weightsSHA: "", weightsBytes: 0).retention
        /// The operator's webhooks (`Webhooks`): told when a job ends or a worker is lost. No URLs: none.
        public var webhooks = WebhookConfig()
        public var logger = Logger(label: "coordinator")
        public init(stateDirectory: URL, weights: URL) {
            self.stateDirectory = stateDirectory
            self.weights = weights
        }
    }

    /// Messages read per loop pass before housekeeping runs once: with a thousand workers, messages arrive
    /// faster than a pass over the workers could run after each one.
    static let batch = 512
    /// How long one wait for a message may last: the granularity of ticks.
    static let pollSeconds = 0.1
    /// How long a stopping coordinator lets the webhooks' queued events go out.
    static let webhookGraceSeconds = 2.0

    public let config: Config
    public let endpoint: String
    /// Snapshots, previews and metrics for the dashboard.
    public let monitor = FarmMonitor()
    var core: CoordinatorCore
    let logger: Logger
    let socket: ZMQSocket
    let journal: Journal
    let network: VGG19
    let weightsBytes: [UInt8]
    /// Each job's input files (content, styles, then the frame's and the masks'), as the journal stored them: the rest
    /// of what a job is lives in the core (`core.jobs`).
    var inputs: [JobID: [URL]] = [:]
    var assets: [JobID: JobAssets] = [:]
    /// Encoded Gram targets by SHA-256: what workers fetch.
    var targets: [String: [UInt8]] = [:]
    /// Accepted tiles waiting for the journal, and whether a batch of them is being written (`storePendingTiles`).
    var pendingTiles: [Journal.FinishedTile] = []
    var storingTiles = false
    /// The disk is full (the core's `storagePaused`, the one disk-full flag): the stages to prepare or blend and outputs
    /// to write that failed for it, retried with the tiles in `pendingTiles` every `storageRetrySeconds` until a write
    /// succeeds (`storageWritable`).
    enum Deferred { case prepare(job: JobID, stage: Int), blend(job: JobID, stage: Int), write(job: JobID) }
    var deferred: [Deferred] = []
    var lastStorageRetry = -Double.infinity
    static let storageRetrySeconds = 2.0
    /// Preparing and blending stages, writing outputs (long).
    let work = DispatchQueue(label: "stylefarm.coordinator.work")
    /// Cutting tiles' crops for assignments.
    let crops = DispatchQueue(label: "stylefarm.coordinator.crops")
    /// Storing tiles and job states, encoding previews, reading outputs (short).
    let store = DispatchQueue(label: "stylefarm.coordinator.store")
    let zap: ZapHandler?
    let handshakes: HandshakeMonitor?
    /// Finished work and the dashboard's questions, for the loop (`Completion`); closed when the loop ends.
    let mailbox = Mailbox<Completion>()
    /// Cutting the deep-zoom viewer's tiles (`CanvasTiles`), and those already cut.
    let canvasQueue = DispatchQueue(label: "stylefarm.coordinator.canvas")
    let canvasTiles = CanvasTileCache()
    let clock = ContinuousClock.now
    let wireStats = Mutex(WireStats())
    /// Posts the core's notices to the operator's URLs off the loop; nil without URLs.
    let webhooks: Webhooks?

    public init(config: Config) throws {
        let wallAtStart = Date().timeIntervalSince1970  // `clock` started as this init began
        self.config = config
        logger = config.logger
        journal = try Journal(directory: config.stateDirectory)
        weightsBytes = try [UInt8](Data(contentsOf: config.weights))
        network = VGG19(weights: try WeightsFile.decode(weightsBytes, path: config.weights.path))
        // Gram targets are computed here with one thread, whatever the machine: the sums' order, and so every
        // bit of the targets, must not depend on the coordinator's core count.
        Compute.configure(threads: 1)
        var coreConfig = CoordinatorCore.Config(
            weightsSHA: ContentHash.sha256(weightsBytes), weightsBytes: weightsBytes.count)
        coreConfig.scheduler = config.scheduler
        coreConfig.retention = config.retention
        coreConfig.wallClockOffset = wallAtStart
        core = CoordinatorCore(config: coreConfig, epoch: String(UInt32.random(in: 0 ... .max), radix: 36))
        socket = try ZMQSocket(.router)
        // No handover: a routing id in use cannot be taken by a second connection (a stolen id gets nothing).
        try socket.setRouterOptions(mandatory: true, handover: false)
        try socket.setMaxFrameSize(config.maxMessageBytes)
        try socket.setHighWaterMarks(100)
        try socket.setHandshakeTimeout(milliseconds: 5000)
        // The ZAP handler must exist before the socket that asks it (same context).
        zap = try config.security.map { try ZapHandler(allowlist: $0.allowlist) }
        if let security = config.security { try socket.makeCurveServer(secretKey: security.keys.secretKey) }
        endpoint = try socket.bind(config.bind)
        if let security = config.security, let zap {
            try zap.selfTest(serverKey: security.keys.publicKey, endpoint: endpoint)
        }
        let monitor = self.monitor
        handshakes = try HandshakeMonitor(watching: socket) { _ in monitor.countAuthFailure() }
        webhooks =
            config.webhooks.urls.isEmpty
            ? nil
            : try Webhooks(
                config: config.webhooks, stateDirectory: config.stateDirectory, logger: logger, monitor: monitor)
        let (stored, unreadable) = try journal.jobs()
        unreadable.forEach(restore)
        stored.forEach(restore)
        let mode =
            config.security.map { "CURVE, allowed keys: \($0.allowlist.summary)" }
            ?? "PLAINTEXT: anyone who reaches this port can use the farm"
        logger.info("listening on \(endpoint) (\(mode)), state in \(config.stateDirectory.path)")
    }

    var now: Double { clock.elapsedSeconds }
    /// Unix seconds now on the core's clock (`CoordinatorCore.wall`): what the shell stamps in the journal itself.
    var wallNow: Double { now + core.config.wallClockOffset }

    /// Runs the loop until `stop` returns true (checked about every 100 ms).
    public func run(until stop: () -> Bool) {
        while !stop() {
            do {
                var timeout = Self.pollSeconds
                for _ in 0 ..< Self.batch {
                    guard
                        let (frames, truncated, userID) = try socket.receive(
                            timeout: timeout, maxFrames: FarmProtocol.Limits.maxFrames + 1)
                    else { break }
                    receive(frames: frames, truncated: truncated, userID: userID)
                    timeout = 0
                }
            } catch {
                logger.error("receive failed: \(error)")
            }
            drainMailbox()
            retryStorage()
            feed(.tick(now: now))
        }
        for worker in core.scheduler.liveWorkers {
            send(worker.rawValue, Message(.error, ErrorBody(code: .shutdown, message: "coordinator stopping")))
        }
        for queue in [work, crops, store] { queue.sync {} }
        mailbox.close()
        drainMailbox()
        webhooks?.stop(grace: Self.webhookGraceSeconds)
        handshakes?.stop()
        zap?.stop()
        socket.close()
    }

    /// Where a job's output is (or will be) written in the state directory: an embedded farm's client copies it
    /// from there rather than fetching it over the socket, so outputs of any size arrive. A path only: safe to
    /// call from any thread.
    public func outputURL(job id: JobID, format: String) -> URL { journal.outputURL(job: id, format: format) }

    /// Who rendered each finished tile of a job and in how many seconds (`Journal.tileRecords`).
    public func tileRecords(job id: JobID) throws -> [(stage: Int, tile: Int, worker: String, seconds: Double)] {
        try journal.tileRecords(job: id)
    }

    // MARK: The loop

    func feed(_ event: CoordinatorCore.Event) {
        perform(core.handle(event))
    }

    /// One message from the socket. Its sender is the key the ZAP handler authenticated (`userID`), looked up in the
    /// allowlist; in plaintext every peer is `Caller.insecure`. A CURVE message without a known key cannot come
    /// from libzmq with a working handler, and is dropped.
    func receive(frames: [[UInt8]], truncated: Bool, userID: String?) {
        guard let id = frames.first, !id.isEmpty else { return }
        let peer = Self.peerName(id)
        monitor.bytesIn.increment(by: frames.dropFirst().reduce(0) { $0 + $1.count })
        var caller = Caller.insecure
        if let security = config.security {
            guard let known = userID.flatMap(security.allowlist.caller(key:)) else {
                logger.error(
                    "a message without an allowed key was dropped (is the ZAP handler answering?)",
                    metadata: ["peer": "\(peer)"])
                return count(.messageDropped)
            }
            caller = known
        }
        do {
            let message = try Message(frames: Array(frames.dropFirst()), truncated: truncated)
            count(received: message)
            feed(.message(peer: peer, message, caller: caller, now: now))
        } catch {
            feed(.malformed(peer: peer, error as? ProtocolError ?? .malformedBody("\(error)"), now: now))
        }
    }

    /// A routing id as the core names its peer: printable ASCII as it is, anything else (libzmq's generated ids
    /// start with a zero byte) and anything that could be mistaken for that as `0x` and hex. `routingID(_:)` reverses
    /// it, so the shell keeps no table of ids that would grow with every client that connects.
    static func peerName(_ id: [UInt8]) -> String {
        id.allSatisfy({ (0x21 ... 0x7e).contains($0) }) && !id.starts(with: Array("0x".utf8))
            ? String(decoding: id, as: UTF8.self)
            : "0x" + id.map { String(format: "%02x", $0) }.joined()
    }

    static func routingID(_ peer: String) -> [UInt8]? {
        guard peer.hasPrefix("0x") else { return Array(peer.utf8) }
        let hex = Array(peer.utf8.dropFirst(2))
        guard hex.count % 2 == 0 else { return nil }
        return stride(from: 0, to: hex.count, by: 2).compactMap {
            UInt8(String(decoding: hex[$0 ..< $0 + 2], as: UTF8.self), radix: 16)  // safe-int: a failable parse of text
        }
    }

    func send(_ peer: String, _ message: Message) {
        guard let id = Self.routingID(peer), !id.isEmpty else { return }
        let frames = message.frames
        if (try? socket.send([id] + frames)) == true {
            monitor.bytesOut.increment(by: frames.reduce(0) { $0 + $1.count })
        } else {
            feed(.unreachable(peer: peer, now: now))
        }
    }
}

/// The deep-zoom viewer's canvas: what it shows is decided on the loop, cut on the canvas queue, cached.
extension Coordinator {
    public func canvasInfo(job: JobID) async -> CanvasInfo? {
        await ask { .canvasView(job: job, $0) }?.info
    }

    public func canvasTile(job: JobID, zoom: Int, x: Int, y: Int) async -> [UInt8]? {
        guard let view = await ask({ .canvasView(job: job, $0) }) else { return nil }
        let cache = canvasTiles, logger = self.logger
        return await withCheckedContinuation { continuation in
            canvasQueue.async {
                do {
                    let key = "\(job)/\(view.info.version)/\(zoom)/\(x)/\(y)"
                    continuation.resume(
                        returning: try cache.tile(key) { try CanvasTiles.render(view, zoom: zoom, x: x, y: y) })
                } catch {
                    logger.warning("canvas tile \(zoom)/\(x)/\(y) not cut: \(error)", metadata: ["job": "\(job)"])
                    continuation.resume(returning: nil)
                }
            }
        }
    }

    /// The job's canvas now: while a stage renders, its start with the stored tiles over it; once done, the last
    /// stage's canvas; otherwise the last finished stage's canvas. Nil before there is any.
    func canvasView(_ id: JobID) -> CanvasView? {
        guard let job = core.jobs[id], !job.stages.isEmpty else { return nil }
        let landed = core.landedTiles(job: id)
        if let landed, let start = assets[id]?.start, job.stages.indices.contains(landed.stage) {
            let stage = job.stages[landed.stage]
            guard start.width == stage.width, start.height == stage.height else { return nil }
            let tiles = landed.tiles.map { t in
                (rect: stage.plan.tiles[t].core, file: journal.tileURL(id, stage: landed.stage, tile: t))
            }
            let info = CanvasInfo(
                width: stage.width, height: stage.height, stage: landed.stage, tilesDone: tiles.count,
                version: landed.stage << 20 | tiles.count)
            return CanvasView(job: id, info: info, base: start, landed: tiles, overview: assets[id]?.overview)
        }
        let finished = job.phase == .done ? job.stages.count - 1 : (core.scheduler.stage(of: id) ?? 0) - 1
        guard finished >= 0, let canvas = try? journal.canvas(job: id, stage: finished) else { return nil }
        let info = CanvasInfo(
            width: canvas.width, height: canvas.height, stage: finished,
            tilesDone: job.stages[finished].plan.tiles.count,
            version: (finished + 1) << 20 | 0xFFFFF)
        return CanvasView(job: id, info: info, base: canvas, landed: [])
    }
}
