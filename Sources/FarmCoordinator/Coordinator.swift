import FarmMonitor
import FarmProtocol
import FarmScheduler
import FarmTransport
import Foundation
import Imaging
import StyleCore
import Tiling
import VGGWeights

/// The farm's coordinator: one ROUTER socket, the pure `FarmScheduler`, the `Journal`, and the jobs' canvases.
///
/// One thread runs `run(until:)`: it reads messages, renews leases, assigns tiles and sends heartbeats.
/// Heavy work (decoding a job's images, its Gram targets, blending a finished stage, writing the output) runs on
/// a serial queue and reports back through a mailbox, so heartbeats are never late.
public final class Coordinator: @unchecked Sendable {
    public struct Config: Sendable {
        public var bind = "tcp://*:5555"
        public var stateDirectory: URL
        public var weights: URL
        public var scheduler = FarmScheduler.Config()
        /// CURVE keys and the allowlist of client keys; nil runs plaintext (only when asked for explicitly).
        public var security: ServerSecurity?
        /// The largest frame (`setMaxFrameSize`) for what peers send: libzmq disconnects a peer that sends a bigger frame.
        public var maxMessageBytes = Int64(FarmProtocol.Limits.maxPayload)
        /// A stage's content and start canvas are held in memory up to this many bytes each; bigger ones (a
        /// gigapixel canvas) are read from disk and resized per tile and strip, so memory does not grow with size.
        public var canvasMemory = 256 << 20
        public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("coordinator: " + $0 + "\n").utf8)) }
        public init(stateDirectory: URL, weights: URL) {
            self.stateDirectory = stateDirectory
            self.weights = weights
        }
    }

    /// A job whose images are decoded: what the loop needs to hand out its tiles.
    final class ActiveJob {
        let stored: Journal.StoredJob
        var poster: PosterJob?
        var stages: [PosterStage] = []
        var targetsSHA = ""
        /// The current stage's reference Grams (`PosterJob.stageReference`), if it localises tile targets.
        var referenceSHA: String?
        /// The level's content and the stage's start canvas: in memory, or read per region from disk.
        var content: ImageRegionSource?
        var start: ImageRegionSource?
        /// The current stage's temporal target (video frames with a temporal loss).
        var temporal: TemporalTarget?
        /// The current stage's finished tiles (their pixels are in the journal).
        var done: Set<Int> = []
        var finishing = false
        /// The dashboard's low-resolution copy of the current stage's canvas, tiles pasted as they land.
        var preview: PlanarImage?
        var previewDirty = false
        /// The stage being rendered.
        var stage = 0
        init(stored: Journal.StoredJob) { self.stored = stored }
    }

    public let config: Config
    public private(set) var endpoint = ""
    /// Snapshots, previews and metrics for the dashboard.
    public let monitor = FarmMonitor()
    /// The latest progress of each live lease, for the dashboard.
    var progress: [String: ProgressBody] = [:]
    var lastSnapshot = 0.0
    let socket: ZMQSocket
    let journal: Journal
    let network: VGG19
    let weightsBytes: [UInt8]
    let weightsSHA: String
    var scheduler: FarmScheduler
    var jobs: [String: ActiveJob] = [:]
    var targets: [String: [UInt8]] = [:]
    var routingIDs: [String: [UInt8]] = [:]
    var lastSent: [String: Double] = [:]
    let work = DispatchQueue(label: "stylefarm.coordinator.work")
    var zap: ZapHandler?
    var handshakes: HandshakeMonitor?
    let mailboxLock = NSLock()
    var mailbox: [() -> Void] = []
    let clock = ContinuousClock.now
    /// What went over the wire, for `stylefarm bench-farm`.
    public struct WireStats: Sendable {
        /// Tile messages (assign, progress, result) sent and received.
        public var tileMessages = 0
        public var assigns = 0
        public var results = 0
        /// Frame bytes of assign and result messages (header, body, payload).
        public var assignBytes = 0
        public var resultBytes = 0
        /// Bytes of the finished tiles' cores as 16-bit RGB: the "raw tile".
        public var rawTileBytes = 0
    }

    let statsLock = NSLock()
    var _stats = WireStats()
    public var stats: WireStats {
        statsLock.lock()
        defer { statsLock.unlock() }
        return _stats
    }

    func count(_ update: (inout WireStats) -> Void) {
        statsLock.lock()
        update(&_stats)
        statsLock.unlock()
    }

    public init(config: Config) throws {
        self.config = config
        journal = try Journal(directory: config.stateDirectory)
        weightsBytes = try [UInt8](Data(contentsOf: config.weights))
        weightsSHA = ContentHash.sha256(weightsBytes)
        network = VGG19(weights: try WeightsFile.decode(weightsBytes, path: config.weights.path))
        // Gram targets are computed here with one thread, whatever the machine: the sums' order, and so every
        // bit of the targets, must not depend on the coordinator's core count.
        Compute.configure(threads: 1)
        scheduler = FarmScheduler(config: config.scheduler, epoch: String(UInt32.random(in: 0 ... .max), radix: 36))
        socket = try ZMQSocket(.router)
        try socket.setRouterOptions(mandatory: true, handover: true)
        try socket.setMaxFrameSize(config.maxMessageBytes)
        try socket.setHighWaterMarks(100)
        try socket.setHandshakeTimeout(milliseconds: 5000)
        if let security = config.security {
            // The ZAP handler must exist before the socket that asks it (same context).
            zap = try ZapHandler(allowlist: security.allowlist)
            try socket.makeCurveServer(secretKey: security.keys.secretKey)
        }
        endpoint = try socket.bind(config.bind)
        if let security = config.security { try selfTest(security) }
        let monitor = self.monitor
        handshakes = try HandshakeMonitor(watching: socket) { _ in monitor.countAuthFailure() }
        try restore()
        let mode = config.security.map { "CURVE, \($0.allowlist.count) allowed client keys" }
            ?? "PLAINTEXT: anyone who reaches this port can use the farm"
        config.log("listening on \(endpoint) (\(mode)), state in \(config.stateDirectory.path)")
    }

    public struct SecurityError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Connects with a fresh, unknown key and checks that the ZAP handler refuses it. libzmq 4.3.4 lets any
    /// client that knows the server key in when no handler answers, so a farm that cannot prove the handler
    /// works must not start.
    func selfTest(_ security: ServerSecurity) throws {
        let probe = try CurveKeyPair.generate()
        let client = try ZMQSocket(.dealer)
        defer { client.close() }
        try client.makeCurveClient(serverKey: security.keys.publicKey, keys: probe)
        try client.connect(Self.loopback(endpoint))
        _ = try client.send(Message(.heartbeat).frames)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if zap?.rejected.contains(probe.publicKey) == true { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw SecurityError(description: "CURVE self-test failed: an unknown key was not refused by the ZAP handler within 5 s; "
            + "refusing to start (without a working handler libzmq would admit any client that knows the server key)")
    }

    /// The bound endpoint as a local client reaches it (`tcp://0.0.0.0:P` → `tcp://127.0.0.1:P`).
    static func loopback(_ endpoint: String) -> String {
        endpoint.replacingOccurrences(of: "tcp://0.0.0.0:", with: "tcp://127.0.0.1:")
            .replacingOccurrences(of: "tcp://[::]:", with: "tcp://127.0.0.1:")
    }

    var now: Double {
        let d = clock.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Runs the loop until `stop` returns true (checked about every 100 ms).
    public func run(until stop: () -> Bool) {
        while !stop() {
            do {
                // Every message already waiting (up to 512), then the housekeeping once: with a thousand workers
                // the messages arrive faster than a full pass over the workers could run after each one.
                var timeout = 0.1
                for _ in 0 ..< 512 {
                    guard let (frames, truncated) = try socket.receive(timeout: timeout, maxFrames: FarmProtocol.Limits.maxFrames + 1)
                    else { break }
                    handle(frames: frames, truncated: truncated)
                    timeout = 0
                }
            } catch {
                config.log("receive failed: \(error)")
            }
            drainMailbox()
            housekeeping()
        }
        for wid in scheduler.liveWorkers { send(wid, Message(.error, ErrorBody(code: "shutdown", message: "coordinator stopping"))) }
        work.sync {}
        drainMailbox()
        handshakes?.stop()
        zap?.stop()
        socket.close()
    }

    func drainMailbox() {
        mailboxLock.lock()
        let jobs = mailbox
        mailbox = []
        mailboxLock.unlock()
        jobs.forEach { $0() }
    }

    /// Runs `body` on the work queue and `then` with its result back on the loop thread.
    func offload<T>(_ body: @escaping () throws -> T, then: @escaping (Result<T, Error>) -> Void) {
        work.async {
            let r = Result { try body() }
            self.mailboxLock.lock()
            self.mailbox.append { then(r) }
            self.mailboxLock.unlock()
        }
    }

    func housekeeping() {
        let t = now
        handle(events: scheduler.tick(now: t))
        handle(events: scheduler.assignments(now: t))
        for wid in scheduler.liveWorkerIDs where t - (lastSent[wid] ?? 0) >= config.scheduler.heartbeat {
            send(wid, Message(.heartbeat))
        }
        if t - lastSnapshot >= 0.5 {
            lastSnapshot = t
            publishSnapshot(now: t)
        }
    }

    /// Refreshes the dashboard's snapshot and the previews that changed.
    func publishSnapshot(now t: Double) {
        progress = progress.filter { scheduler.lease($0.key) != nil }
        var views: [JobView] = []
        for status in scheduler.jobStatuses(now: t) {
            guard let job = jobs[status.id] else { continue }
            let stage = job.stages[min(job.stage, job.stages.count - 1)]
            let states = scheduler.tileStates(job: status.id)
            let tiles = stage.plan.tiles.map { tile -> TileView in
                let r = tile.core
                var v = TileView(index: tile.index, x: r.x, y: r.y, width: r.width, height: r.height, state: "pending")
                if status.state == .done || states?.done.contains(tile.index) == true {
                    v.state = "done"
                } else if let lease = states?.leased[tile.index] {
                    v.state = "rendering"
                    v.worker = lease.worker
                    if let p = progress[lease.token] { (v.iteration, v.iterations, v.loss) = (p.iteration, p.iterations, p.loss) }
                }
                return v
            }
            let minutes = status.elapsed / 60
            views.append(JobView(status: status, level: stage.level, levels: (job.stages.last?.level ?? 0) + 1,
                                 pass: stage.level == 0 ? "coarse" : stage.pass == 0 ? "tiles" : "shifted tiles",
                                 width: stage.width, height: stage.height, tiles: tiles,
                                 tilesPerMinute: minutes > 0 ? Double(status.tilesDone) / minutes : 0,
                                 eta: status.workFraction > 0 && !status.state.isFinal
                                     ? status.elapsed / status.workFraction * (1 - status.workFraction) : nil))
            if job.previewDirty, let preview = job.preview {
                job.previewDirty = false
                let url = journal.jobDirectory(status.id).appendingPathComponent("preview.png")
                if (try? ImageIO.write(preview, to: url, bitDepth: 8)) != nil, let bytes = try? [UInt8](Data(contentsOf: url)) {
                    monitor.publish(preview: bytes, job: status.id)
                }
            }
        }
        monitor.publish(FarmSnapshot(time: Date().timeIntervalSince1970, jobs: views, workers: scheduler.workerStatuses(now: t)))
    }

    // MARK: Messages

    func peerName(_ id: [UInt8]) -> String {
        id.allSatisfy({ (0x21 ... 0x7e).contains($0) }) ? String(decoding: id, as: UTF8.self)
            : "0x" + id.map { String(format: "%02x", $0) }.joined()
    }

    @discardableResult
    func send(_ peer: String, _ message: Message) -> Bool {
        guard let id = routingIDs[peer] else { return false }
        let frames = message.frames
        let ok = (try? socket.send([id] + frames)) ?? false
        if ok {
            lastSent[peer] = now
            monitor.bytesOut.increment(by: frames.reduce(0) { $0 + $1.count })
        } else if scheduler.liveWorkers.contains(peer) {
            handle(events: scheduler.remove(worker: peer, reason: "unreachable", now: now))
        }
        return ok
    }

    func handle(frames: [[UInt8]], truncated: Bool) {
        guard let id = frames.first, !id.isEmpty else { return }
        let peer = peerName(id)
        routingIDs[peer] = id
        monitor.bytesIn.increment(by: frames.dropFirst().reduce(0) { $0 + $1.count })
        let message: Message
        do {
            message = try Message(frames: Array(frames.dropFirst()), truncated: truncated)
        } catch let e as ProtocolError {
            config.log("bad message from \(peer): \(e)")
            monitor.messagesDropped.increment()
            send(peer, Message(.error, ErrorBody(code: e.code, message: e.description, versions: FarmProtocol.versions)))
            return
        } catch { return }
        do {
            try dispatch(message, from: peer)
        } catch let e as ProtocolError {
            config.log("bad \(message.command) from \(peer): \(e)")
            monitor.messagesDropped.increment()
            send(peer, Message(.error, ErrorBody(code: e.code, message: e.description)))
        } catch {
            config.log("\(message.command) from \(peer) failed: \(error)")
            send(peer, Message(.error, ErrorBody(code: "state", message: "\(error)")))
        }
    }

    func dispatch(_ m: Message, from peer: String) throws {
        let t = now
        switch m.command {
        case .ready:
            let body = try m.decode(ReadyBody.self)
            guard body.versions.contains(FarmProtocol.version) else {
                throw ProtocolError.unsupportedVersion(body.versions.max() ?? 0)
            }
            scheduler.workerReady(id: peer, name: body.name, threads: body.threads, busy: body.busy.count,
                                  memoryLimit: body.memoryLimit, speed: body.speed, now: t)
            config.log("worker \(peer) (\(body.name), \(body.threads) threads"
                       + (body.memoryLimit.map { ", \($0 >> 20) MiB" } ?? "") + (body.speed.map { String(format: ", %.2g px·it/s", $0) } ?? "")
                       + ") joined")
            send(peer, Message(.welcome, WelcomeBody(worker: peer, heartbeatSeconds: config.scheduler.heartbeat,
                                                     liveness: config.scheduler.liveness, weights: weightsSHA,
                                                     weightsBytes: weightsBytes.count)))
        case .heartbeat:
            if !scheduler.heard(from: peer, now: t) {
                send(peer, Message(.error, ErrorBody(code: "unknown-worker", message: "say ready first")))
            }
        case .goodbye:
            handle(events: scheduler.remove(worker: peer, reason: "said goodbye", now: t))
        case .fetch:
            _ = scheduler.heard(from: peer, now: t)
            let body = try m.decode(FetchBody.self)
            if body.kind == "weights", body.sha256 == weightsSHA {
                send(peer, Message(.blob, body, payload: [weightsBytes]))
            } else if body.kind == "targets", let bytes = targets[body.sha256] {
                send(peer, Message(.blob, body, payload: [bytes]))
            } else {
                send(peer, Message(.reject, RejectBody(lease: nil, reason: "no \(body.kind) with sha256 \(body.sha256)")))
            }
        case .progress:
            count { $0.tileMessages += 1 }
            guard scheduler.heard(from: peer, now: t) else { return }
            let body = try m.decode(ProgressBody.self)
            if case let .rejected(why) = scheduler.progress(lease: body.lease, worker: peer, now: t) {
                send(peer, Message(.reject, RejectBody(lease: body.lease, reason: why)))
            } else {
                progress[body.lease] = body
            }
        case .result:
            count { s in
                s.tileMessages += 1
                s.results += 1
                s.resultBytes += m.frames.reduce(0) { $0 + $1.count }
            }
            _ = scheduler.heard(from: peer, now: t)
            try result(m, from: peer, now: t)
        case .failed:
            _ = scheduler.heard(from: peer, now: t)
            let body = try m.decode(FailedBody.self)
            let (verdict, events) = scheduler.failed(lease: body.lease, worker: peer, reason: body.reason, now: t)
            if case .accepted = verdict {
                config.log("worker \(peer) failed \(body.lease): \(body.reason)")
                monitor.tilesFailed.increment()
            } else {
                config.log("worker \(peer) gave up stale lease \(body.lease): \(body.reason)")
            }
            handle(events: events)
        case .submit:
            try submit(m, from: peer)
        case .status:
            let body = try m.decode(StatusBody.self)
            let all = scheduler.jobStatuses(now: t)
            let jobs = body.job.map { j in all.filter { $0.id == j } } ?? all
            if let j = body.job, jobs.isEmpty { throw ProtocolError.malformedBody("no job \(j)") }
            send(peer, StatusReplyBody(jobs: jobs, workers: scheduler.workerStatuses(now: t)).message)
        case .cancel:
            let body = try m.decode(CancelBody.self)
            guard scheduler.cancel(job: body.job, now: t) else { throw ProtocolError.malformedBody("no running job \(body.job)") }
            try journal.setState(job: body.job, .cancelled, detail: "cancelled")
            config.log("job \(body.job) cancelled")
            send(peer, StatusReplyBody(jobs: scheduler.jobStatuses(now: t).filter { $0.id == body.job },
                                       workers: scheduler.workerStatuses(now: t)).message)
        case .fetchOutput:
            let body = try m.decode(StatusBody.self)
            guard let j = body.job, let job = jobs[j], scheduler.state(of: j) == .done else {
                throw ProtocolError.malformedBody("job \(body.job ?? "?") has no output (not done)")
            }
            let url = journal.outputURL(job: j, format: job.stored.spec.format)
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            guard size <= FarmProtocol.Limits.maxPayload else {
                throw ProtocolError.malformedBody("job \(j)'s output is \(size >> 20) MiB, more than a message carries "
                    + "(\(FarmProtocol.Limits.maxPayload >> 20) MiB); copy it from the coordinator's \(url.path)")
            }
            send(peer, Message(.output, OutputBody(job: j, file: url.lastPathComponent), payload: [[UInt8](try Data(contentsOf: url))]))
        case .welcome, .assign, .blob, .reject, .error, .submitted, .statusReply, .output:
            throw ProtocolError.malformedBody("\(m.command) is not sent to a coordinator")
        }
    }

    func result(_ m: Message, from peer: String, now t: Double) throws {
        let body = try m.decode(ResultBody.self)
        guard let lease = scheduler.lease(body.lease), lease.worker == peer, let job = jobs[lease.tile.job] else {
            _ = scheduler.complete(lease: body.lease, worker: peer, seconds: 0, now: t)  // frees an unknown lease's credit
            config.log("rejected a result from \(peer) under lease \(body.lease): not live (lapsed, revoked or from before a restart)")
            send(peer, Message(.reject, RejectBody(lease: body.lease, reason: "lease \(body.lease) is not live")))
            return
        }
        let core = job.stages[lease.tile.stage].plan.tiles[lease.tile.tile].core
        let pixels: PlanarImage
        do {
            guard m.payload.count == 1 else { throw ProtocolError.malformedBody("a result has one payload frame") }
            pixels = try PixelCodec.decode(m.payload[0], width: core.width, height: core.height)
        } catch {
            monitor.tilesFailed.increment()
            handle(events: scheduler.failed(lease: body.lease, worker: peer, reason: "bad result: \(error)", now: t).1)
            throw error
        }
        do {
            try journal.tileFinished(job: job.stored.id, stage: lease.tile.stage, tile: lease.tile.tile, pixels: pixels,
                                     worker: peer, seconds: body.seconds)
        } catch {
            fail(job: job.stored.id, reason: "cannot write the journal: \(error)")
            return
        }
        let (verdict, events) = scheduler.complete(lease: body.lease, worker: peer, seconds: body.seconds, now: t)
        if case .accepted = verdict {
            job.done.insert(lease.tile.tile)
            paste(pixels, tile: lease.tile.tile, of: job)
            monitor.tilesDone.increment()
            monitor.tileSeconds.record(body.seconds)
            count { $0.rawTileBytes += 6 * core.area }
        }
        handle(events: events)
    }

    func submit(_ m: Message, from peer: String) throws {
        let body = try m.decode(SubmitBody.self)
        try body.spec.validate()
        guard m.payload.count == body.spec.inputCount else {
            throw ProtocolError.malformedBody("a submit carries the content, \(body.spec.styleWeights.count) style image(s)"
                + (body.spec.frame == nil ? "" : ", the frame's start image" + (body.spec.frame!.temporalMask ? " and its mask" : "")))
        }
        let id = "j" + String(UInt64.random(in: 0 ... .max) % 1_000_000_000_000, radix: 36)
        let stored = try journal.add(job: id, spec: body.spec, inputs: m.payload)
        config.log("job \(id) '\(body.spec.name)' submitted: \(body.spec.poster.width)x\(body.spec.poster.height)")
        admit(stored)
        send(peer, Message(.submitted, SubmittedBody(job: id)))
    }

    // MARK: Jobs

    /// Registers a job with the scheduler and prepares it in the background.
    func admit(_ stored: Journal.StoredJob) {
        let job = ActiveJob(stored: stored)
        jobs[stored.id] = job
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        let stages = stored.spec.posterJob(images: Array(repeating: blank, count: stored.spec.inputCount)).stages
        job.stages = stages
        // Each tile's planned peak memory on a worker, so no worker gets a tile past its --max-memory.
        let history = stored.spec.poster.options.optimizer.lbfgsHistory
        var peak: [Int: Int] = [:]
        let memory = stages.map { s in
            s.plan.tiles.map { t -> Int in
                let r = t.render, key = r.width << 32 | r.height
                if let known = peak[key] { return known }
                let bytes = ResourceEstimate.peakBytes(network: self.network, width: r.width, height: r.height, lbfgsHistory: history)
                peak[key] = bytes
                return bytes
            }
        }
        scheduler.addJob(id: stored.id, name: stored.spec.name, priority: stored.spec.priority,
                         work: stages.map { s in s.plan.tiles.map { Double($0.render.area * s.iterations) } }, memory: memory)
        switch stored.state {
        case .done:
            scheduler.finish(job: stored.id, now: now)
            return
        case .failed, .cancelled:
            scheduler.fail(job: stored.id, reason: stored.detail ?? stored.state.rawValue, now: now)
            return
        case .queued, .running:
            break
        }
        let journal = self.journal, network = self.network, log = config.log, limit = config.canvasMemory
        offload({ () -> (PosterJob, [UInt8], StagePrep, Set<Int>) in
            let styleCount = stored.spec.styleWeights.count
            let images = try stored.inputs.enumerated().map { i, url -> PlanarImage in
                do { return try ImageIO.read(url).image } catch {
                    let what = i == 0 ? "content" : i <= styleCount ? "style \(i)" : i == styleCount + 1 ? "frame start" : "temporal mask"
                    throw ProtocolError.malformedBody("\(what) image: \(error)")
                }
            }
            let poster = stored.spec.posterJob(images: images)
            let net = network.pooling == poster.pooling ? network : network.with(pooling: poster.pooling)
            let targets = TargetsCodec.encode(poster.gramTargets(network: net))
            let previous = stored.stage > 0 ? try journal.canvas(job: stored.id, stage: stored.stage - 1) : nil
            let stage = stages[stored.stage]
            var prep = try Self.prepare(poster, stage, previous: previous, network: network, memory: limit)
            let finished = try journal.finishedTiles(job: stored.id, stage: stored.stage) { t, core in
                Self.paste(core, at: stage.plan.tiles[t].core, of: stage, into: &prep.preview)
            }
            if !finished.forgotten.isEmpty {
                log("job \(stored.id): torn tile records \(finished.forgotten) of stage \(stored.stage) forgotten; they will be rendered again")
            }
            return (poster, targets, prep, finished.done)
        }, then: { [self] r in
            switch r {
            case let .success((poster, targetBytes, prep, done)):
                job.poster = poster
                job.targetsSHA = ContentHash.sha256(targetBytes)
                targets[job.targetsSHA] = targetBytes
                begin(prep, stage: stored.stage, of: job)
                job.done = done
                try? journal.setState(job: stored.id, .running)
                if !done.isEmpty { config.log("job \(stored.id) resumes stage \(stored.stage) with \(done.count) finished tiles") }
                handle(events: scheduler.startStage(job: stored.id, stage: stored.stage, done: done, now: now))
            case let .failure(e):
                fail(job: stored.id, reason: "\(e)")
            }
        })
    }

    /// What a stage needs before its tiles go out, computed off the loop thread.
    struct StagePrep {
        /// The level's content (nil when the level did not change).
        var content: ImageRegionSource?
        var start: ImageRegionSource
        /// The stage's reference Grams, encoded (computed here, once, for all of the stage's tiles).
        var reference: [UInt8]?
        var temporal: TemporalTarget?
        var preview: PlanarImage
    }

    static let previewSize = 384

    /// `previous`: the canvas the last stage left. Content and start are held in memory when each takes at most
    /// `memory` bytes; otherwise they stay sources read per region (the start resized from `previous` on disk).
    static func prepare(_ poster: PosterJob, _ stage: PosterStage, previous: DiskImage?, network: VGG19,
                        levelChanged: Bool = true, memory: Int) throws -> StagePrep {
        let content = levelChanged || previous == nil ? try poster.contentSource(for: stage).materialized(limit: memory) : nil
        let start = try poster.startSource(for: stage, previous: previous, content: content ?? previous!).materialized(limit: memory)
        let net = network.pooling == poster.pooling ? network : network.with(pooling: poster.pooling)
        let reference = try poster.stageReference(stage, start: start, network: net).map(TargetsCodec.encode)
        let preview = try start.boxDownscaled(longSide: previewSize).clamped()
        return StagePrep(content: content, start: start, reference: reference, temporal: poster.temporal(for: stage), preview: preview)
    }

    /// Installs a prepared stage.
    func begin(_ prep: StagePrep, stage: Int, of job: ActiveJob) {
        job.stage = stage
        if let content = prep.content { job.content = content }
        job.start = prep.start
        job.temporal = prep.temporal
        if let old = job.referenceSHA { targets[old] = nil }
        job.referenceSHA = prep.reference.map(register)
        job.done = []
        job.preview = prep.preview
        job.previewDirty = true
    }

    /// Pastes a finished tile's core into the job's preview.
    func paste(_ core: PlanarImage, tile: Int, of job: ActiveJob) {
        guard job.preview != nil else { return }
        let stage = job.stages[job.stage]
        Self.paste(core, at: stage.plan.tiles[tile].core, of: stage, into: &job.preview!)
        job.previewDirty = true
    }

    /// Pastes a tile's core, at `rect` of a stage's canvas, into a preview of that canvas.
    static func paste(_ core: PlanarImage, at rect: PixelRect, of stage: PosterStage, into preview: inout PlanarImage) {
        let sx = Double(preview.width) / Double(stage.width), sy = Double(preview.height) / Double(stage.height)
        let x0 = Int(Double(rect.x) * sx), y0 = Int(Double(rect.y) * sy)
        let w = max(1, min(preview.width - x0, Int((Double(rect.width) * sx).rounded())))
        let h = max(1, min(preview.height - y0, Int((Double(rect.height) * sy).rounded())))
        let small = Resampler.resize(core, width: w, height: h)
        let n = preview.width * preview.height
        for c in 0 ..< 3 {
            for y in 0 ..< h {
                for x in 0 ..< w {
                    preview.pixels[c * n + (y0 + y) * preview.width + x0 + x] = min(1, max(0, small.pixels[(c * h + y) * w + x]))
                }
            }
        }
    }

    /// Makes bytes fetchable by their SHA-256; returns it.
    func register(_ bytes: [UInt8]) -> String {
        let sha = ContentHash.sha256(bytes)
        targets[sha] = bytes
        return sha
    }

    func fail(job id: String, reason: String) {
        config.log("job \(id) failed: \(reason)")
        scheduler.fail(job: id, reason: reason, now: now)
        try? journal.setState(job: id, .failed, detail: reason)
    }

    func handle(events: [FarmScheduler.Event]) {
        for e in events {
            switch e {
            case let .assign(worker, tile, lease):
                assign(worker: worker, tile: tile, lease: lease)
            case let .stageFinished(job, stage):
                finishStage(job: job, stage: stage)
            case let .jobFailed(job, reason):
                fail(job: job, reason: reason)
            case let .workerLost(worker):
                config.log("worker \(worker) lost")
            case let .requeued(tile, worker, lease, reason):
                config.log("tile \(tile) requeued (lease \(lease)): \(reason)")
                monitor.tilesRequeued.increment()
                send(worker, Message(.reject, RejectBody(lease: lease, reason: reason)))
            case let .workerBlocklisted(worker, job):
                config.log("worker \(worker) blocklisted for job \(job)")
            case let .revoked(worker, tile, lease):
                config.log("tile \(tile): another copy won; lease \(lease) on \(worker) revoked")
                monitor.copiesRevoked.increment()
                send(worker, Message(.reject, RejectBody(lease: lease, reason: "another copy of tile \(tile) won")))
            }
        }
    }

    func assign(worker: String, tile id: FarmScheduler.TileID, lease: String) {
        guard let job = jobs[id.job], let poster = job.poster, let content = job.content, let start = job.start else { return }
        let stage = job.stages[id.stage], tile = stage.plan.tiles[id.tile], r = tile.render
        let body = AssignBody(lease: lease, job: id.job, stage: id.stage, task: stage.task(tile), options: poster.options,
                              pooling: poster.pooling, targets: job.targetsSHA, reference: job.referenceSHA,
                              leaseSeconds: config.scheduler.leaseSeconds)
        var payload: [[UInt8]]
        do {
            payload = [PixelCodec.encode(try content.region(x: r.x, y: r.y, width: r.width, height: r.height)),
                       PixelCodec.encode(try start.region(x: r.x, y: r.y, width: r.width, height: r.height))]
        } catch {
            fail(job: id.job, reason: "reading tile \(id.tile)'s canvas: \(error)")
            return
        }
        if let temporal = job.temporal?.cropped(x: r.x, y: r.y, width: r.width, height: r.height) {
            payload += [PixelCodec.encode(temporal.image), PixelCodec.encode(temporal.mask)]
        }
        let message = Message(.assign, body, payload: payload)
        count { s in
            s.tileMessages += 1
            s.assigns += 1
            s.assignBytes += message.frames.reduce(0) { $0 + $1.count }
        }
        send(worker, message)
    }

    /// Blends a finished stage in the background, strip by strip from the journal's tiles into the stage's canvas
    /// file, then starts the next stage or writes the output (also strip by strip).
    func finishStage(job id: String, stage: Int) {
        guard let job = jobs[id], let poster = job.poster, let start = job.start, !job.finishing else { return }
        job.finishing = true
        let stages = job.stages, journal = self.journal, spec = job.stored.spec, network = self.network, limit = config.canvasMemory
        offload({ () -> StagePrep? in
            let s = stages[stage]
            let strip = start.stripRows(bytes: Self.stripBytes)
            let canvas = try journal.stageFinished(job: id, stage: stage, width: s.width, height: s.height) { file in
                try PosterJob.finish(s, start: start, stripRows: strip, core: { t, rows in
                    let tile = try journal.tile(job: id, stage: stage, tile: t)
                    return try tile.region(x: 0, y: rows.lowerBound, width: tile.width, height: rows.count)
                }, emit: { y, pixels in try file.write(pixels, y: y) })
            }
            guard stage + 1 < stages.count else {
                let out: ImageRegionSource = spec.preserveColors ? ColorPreserved(styled: canvas, original: poster.contentSource(for: s)) : canvas
                try ImageIO.write(out, to: journal.outputURL(job: id, format: spec.format), bitDepth: spec.bitDepth, dpi: spec.dpi,
                                  stripRows: strip)
                try journal.setState(job: id, .done)
                return nil
            }
            let next = stages[stage + 1]
            return try Self.prepare(poster, next, previous: canvas, network: network, levelChanged: next.level != s.level, memory: limit)
        }, then: { [self] r in
            job.finishing = false
            switch r {
            case .success(nil):
                scheduler.finish(job: id, now: now)
                (job.poster, job.content, job.start, job.temporal, job.done) = (nil, nil, nil, nil, [])  // keep only what status needs
                config.log("job \(id) done: \(journal.outputURL(job: id, format: spec.format).path)")
            case let .success(prep?):
                begin(prep, stage: stage + 1, of: job)
                handle(events: scheduler.startStage(job: id, stage: stage + 1, now: now))
            case let .failure(e):
                fail(job: id, reason: "finishing stage \(stage): \(e)")
            }
        })
    }

    /// Bytes of one strip of a canvas when a stage is blended or written.
    static let stripBytes = 64 << 20

    /// Where a job's output is (or will be) written in the state directory: an embedded farm's client copies it
    /// from there rather than fetching it over the socket, so outputs of any size arrive. A path only: safe to
    /// call from any thread.
    public func outputURL(job id: String, format: String) -> URL { journal.outputURL(job: id, format: format) }

    func restore() throws {
        for stored in try journal.jobs() { admit(stored) }
    }
}
