import BLASKernel
import FarmProtocol
import FarmTransport
import Foundation
import Imaging
import Logging
import StyleCore
import VGGWeights

/// A farm worker: the shell around `WorkerMachine`. The network thread (the one that calls `run`) owns the
/// DEALER socket, the machine and the caches; it turns messages and ticks into events and performs the actions
/// the machine returns. The `TileComputer` thread renders; its outcomes come back as events (`TileComputer.take`), so
/// the machine is only ever touched by the network thread, and a long tile never makes the worker look dead.
public final class Worker {
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
        /// Testing and demos only: each iteration takes this many times as long (`TileComputer`).
        public var slowdown = 1.0
        public var timing = WorkerMachine.Timing()
        public var logger = Logger(label: "worker")
        public init(endpoint: String, name: String, threads: Int, cacheDirectory: URL) {
            self.endpoint = endpoint
            self.name = name
            self.threads = threads
            self.cacheDirectory = cacheDirectory
        }
    }

    public let config: Config
    var machine: WorkerMachine
    var socket: ZMQSocket?
    /// The socket's CURVE handshakes: a refused key is logged by name (`reportHandshake`).
    var watch: HandshakeWatch?
    var logger: Logger
    /// Decoded targets by SHA-256, and the installed network (network thread only).
    var targets: [String: GramTargets] = [:]
    /// Decoded region targets and stage region references by SHA-256 (spatial control; `RegionTargetsCodec`).
    var regionTargets: [String: RegionTargets] = [:]
    var network: VGG19?
    /// Bytes of weights fetched from the coordinator, cached on disk once they install.
    var pendingWeights: [UInt8]?
    let epoch = ContinuousClock.now
    /// How long one wait for a message may last: the granularity of ticks.
    static let pollSeconds = 0.1

    public init(config: Config) {
        self.config = config
        logger = config.logger
        logger[metadataKey: "worker"] = "\(config.name)"
        machine = WorkerMachine(
            identity: .init(
                name: config.name, threads: config.threads, cores: ProcessInfo.processInfo.activeProcessorCount,
                memoryLimit: config.maxMemory ?? Int(clamping: ProcessInfo.processInfo.physicalMemory),
                kernel: KernelSelection.inUse.line,
                host: ProcessInfo.processInfo.hostName),
            timing: config.timing)
    }

    var now: Double { epoch.elapsedSeconds }

    /// Runs until `stop` returns true or, with `parentPID`, the parent exits. A worker outlives coordinator
    /// restarts: it reconnects and says `ready` again.
    public func run(until stop: () -> Bool) {
        // before the weights' install, which measures the speed `ready` reports
        Compute.configure(threads: config.threads)
        let computer = TileComputer(epoch: epoch, slowdown: config.slowdown)
        if let w = config.localWeights, let bytes = try? [UInt8](Data(contentsOf: w)) {
            // Installed before the first `ready`, so that it reports the weights and the speed.
            computer.install(sha: ContentHash.sha256(bytes), bytes: bytes)
        }
        drain(computer)
        perform(machine.handle(.start(now: now)), computer)
        while !stop() {
            if let p = config.parentPID, getppid() != p { break }
            if let socket {
                do {
                    if let (frames, truncated, _) = try socket.receive(
                        timeout: Self.pollSeconds, maxFrames: FarmProtocol.Limits.maxFrames + 1)
                    {
                        let message = Result { try Message(frames: frames, truncated: truncated) }.mapError {
                            $0 as? ProtocolError ?? .malformedBody("\($0)")
                        }
                        perform(machine.handle(.received(message, now: now)), computer)
                    }
                } catch {
                    logger.error("receive failed: \(error)")
                }
            } else {
                Thread.sleep(forTimeInterval: Self.pollSeconds)
            }
            drain(computer)
            reportHandshake()
            perform(machine.handle(.tick(now: now)), computer)
        }
        perform(machine.handle(.stop), computer)
    }

    /// Feeds the compute thread's events to the machine.
    func drain(_ computer: TileComputer) {
        let (events, installed) = computer.take()
        if let installed {
            network = installed.network
            cacheWeights(sha: installed.sha)
        }
        for e in events { perform(machine.handle(e), computer) }
    }

    func perform(_ actions: [WorkerMachine.Action], _ computer: TileComputer) {
        for action in actions {
            switch action {
            case .connect:
                connect()
            case .disconnect:
                disconnect()
            case let .send(m):
                _ = try? socket?.send(m.frames)
            case let .installWeights(sha, bytes):
                pendingWeights = bytes
                computer.submit(.installWeights(sha: sha, bytes: bytes))
            case let .installTargets(sha, bytes):
                do {
                    if RegionTargetsCodec.isRegionTargets(bytes) {
                        regionTargets[sha] = try RegionTargetsCodec.decode(bytes)
                    } else {
                        targets[sha] = try TargetsCodec.decode(bytes)
                    }
                    perform(machine.handle(.targetsInstalled(sha: sha)), computer)
                } catch {
                    perform(machine.handle(.installFailed(kind: .targets, sha: sha, reason: "\(error)")), computer)
                }
            case let .forgetTargets(sha):
                targets[sha] = nil
                regionTargets[sha] = nil
            case let .render(body, payload):
                do {
                    computer.submit(.render(try renderJob(body, payload)))
                } catch {
                    perform(machine.handle(.stoppedTile(lease: body.lease, reason: "\(error)")), computer)
                }
            case let .cancel(lease):
                computer.cancel(lease)
            case let .log(level, text, lease):
                var l = logger
                if let lease { l[metadataKey: "lease"] = "\(lease)" }
                l.log(level: level, "\(text)")
            }
        }
    }

    func cacheWeights(sha: String) {
        guard let bytes = pendingWeights else { return }
        pendingWeights = nil
        do {
            let dir = config.cacheDirectory.appendingPathComponent("weights")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try DurableFile.write(Data(bytes), to: dir.appendingPathComponent("\(sha).sfw"))
            logger.info("weights \(sha.prefix(12)) received and cached")
        } catch {
            logger.warning("weights \(sha.prefix(12)) not cached: \(error)")
        }
    }

    func connect() {
        disconnect()
        do {
            let s = try ZMQSocket(.dealer)
            try config.security.apply(to: s)
            if config.security.keys != nil { watch = try HandshakeWatch(s) }
            try s.setRoutingID(Array("\(config.name)-\(getpid())-\(UInt16.random(in: 0 ... .max))".utf8))
            try s.setMaxFrameSize(FarmProtocol.Limits.maxFrameSize)
            try s.connect(config.endpoint)
            socket = s
        } catch {
            logger.error("cannot connect to \(config.endpoint): \(error)")
            socket = nil
        }
    }

    func disconnect() {
        watch?.stop()
        watch = nil
        socket?.close()
        socket = nil
    }

    /// Says so, naming this worker's public key, when the coordinator refused it or the handshake failed: the worker
    /// keeps trying (an operator may add the key), but its log tells why nothing happens.
    func reportHandshake() {
        guard let failure = watch?.take(), let keys = config.security.keys else { return }
        logger.error("\(failure.message(endpoint: config.endpoint, publicKey: keys.publicKey, role: "worker"))")
    }

    /// Decodes an assignment's crops; the machine only releases it when the network and its targets are installed.
    func renderJob(_ body: AssignBody, _ payload: [[UInt8]]) throws -> TileComputer.RenderJob {
        let regions = regionTargets[body.targets], r = body.task.tile.render
        let crops = try AssignCrops(frames: payload, width: r.width, height: r.height, regions: regions?.regions.count)
        guard let network, regions != nil || targets[body.targets] != nil else {
            throw ProtocolError.malformedBody("targets missing")
        }
        let plain = targets[body.targets] ?? .none
        let reference = body.reference.flatMap { self.targets[$0] },
            regionReference = body.reference.flatMap { regionTargets[$0]?.regions }
        guard
            ([plain, reference] + (regions?.regions ?? []) + (regionReference ?? [])).allSatisfy({
                $0?.fits(network) ?? true
            })
        else {
            throw ProtocolError.malformedBody("targets that do not fit the network's layers")
        }
        if let regions, regions.regions.isEmpty || (regionReference.map { $0.count != regions.regions.count } ?? false)
        {
            throw ProtocolError.malformedBody(
                "region targets of \(regions.regions.count) regions and a reference of \(regionReference?.count ?? 0)")
        }
        return .init(
            body: body, network: network, content: crops.content, canvas: crops.canvas,
            temporal: crops.temporal.map { TemporalTarget(image: $0.image, mask: $0.mask) },
            targets: plain, reference: reference, regions: regions, guides: crops.guides,
            regionReference: regionReference)
    }
}
