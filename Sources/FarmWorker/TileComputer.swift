import FarmProtocol
import Foundation
import Imaging
import StyleCore
import Synchronization
import VGGWeights

/// The worker's compute thread: installs weights (decoding and measuring them takes seconds) and renders tiles,
/// in order, recording each outcome as a `WorkerMachine.Event` that the network thread `take`s. The network
/// thread only ever submits jobs, marks leases cancelled and takes outcomes; everything the compute thread reads
/// travels inside its job, so nothing is shared but the queue, the cancelled set and the outcomes (each behind a
/// mutex).
final class TileComputer: Sendable {
    /// One tile, with everything it needs decoded.
    struct RenderJob: Sendable {
        var body: AssignBody
        var network: VGG19
        var content: PlanarImage
        var canvas: PlanarImage
        var temporal: TemporalTarget?
        var targets: GramTargets
        var reference: GramTargets?
        /// Spatial control: each region's targets, the tile's guides and each region's stage reference.
        var regions: RegionTargets?
        var guides: PlanarImage?
        var regionReference: [GramTargets?]?
    }

    enum Job: Sendable {
        case installWeights(sha: String, bytes: [UInt8])
        case render(RenderJob)
    }

    /// What an installed set of weights gives the network thread.
    struct Installed: Sendable {
        var network: VGG19
        var sha: String
        var speed: Double
    }

    let slowdown: Double
    let available = DispatchSemaphore(value: 0)
    let queue = Mutex<[Job]>([])
    let cancelled = Mutex<Set<LeaseToken>>([])
    /// Outcomes not yet taken: events in order, and the network installed last.
    let outcomes = Mutex<(events: [WorkerMachine.Event], installed: Installed?)>(([], nil))
    let epoch: ContinuousClock.Instant

    /// `epoch`: the network thread's time zero, so both threads' `now` agree. `slowdown` (tests and demos only): sleep (slowdown − 1) × each iteration's compute time, as a machine
    /// under other load would. The speed measured at install is not slowed, so the coordinator learns it from results.
    init(epoch: ContinuousClock.Instant, slowdown: Double) {
        self.epoch = epoch
        self.slowdown = slowdown
        let thread = Thread { [self] in loop() }
        thread.stackSize = 16 << 20
        thread.start()
    }

    var now: Double { epoch.elapsedSeconds }

    /// The outcomes recorded since the last call.
    func take() -> (events: [WorkerMachine.Event], installed: Installed?) {
        outcomes.withLock { box in
            defer { box = ([], nil) }
            return box
        }
    }

    func report(_ event: WorkerMachine.Event) {
        outcomes.withLock { $0.events.append(event) }
    }

    func submit(_ job: Job) {
        queue.withLock { $0.append(job) }
        available.signal()
    }

    /// The tile under `lease` stops at its next iteration (or is skipped if it has not started).
    func cancel(_ lease: LeaseToken) {
        _ = cancelled.withLock { $0.insert(lease) }
    }

    func isCancelled(_ lease: LeaseToken) -> Bool { cancelled.withLock { $0.contains(lease) } }

    func loop() {
        while true {
            available.wait()
            let job = queue.withLock { $0.removeFirst() }
            switch job {
            case let .installWeights(sha, bytes): install(sha: sha, bytes: bytes)
            case let .render(r): render(r)
            }
        }
    }

    func install(sha: String, bytes: [UInt8]) {
        do {
            let network = VGG19(weights: try WeightsFile.decode(bytes))
            let speed = 1 / ResourceEstimate.secondsPerPixelIteration(network: network)
            outcomes.withLock { box in
                box.installed = Installed(network: network, sha: sha, speed: speed)
                box.events.append(.weightsInstalled(sha: sha, speed: speed))
            }
        } catch {
            report(.installFailed(kind: .weights, sha: sha, reason: "\(error)"))
        }
    }

    func render(_ r: RenderJob) {
        let lease = r.body.lease
        defer { _ = cancelled.withLock { $0.remove(lease) } }
        guard !isCancelled(lease) else {
            return report(.stoppedTile(lease: lease, reason: "stopped before it started"))
        }
        let net = r.network.pooling == r.body.pooling ? r.network : r.network.with(pooling: r.body.pooling)
        let renderer = TileRenderer(network: net, options: r.body.options, targets: r.targets, regions: r.regions)
        let started = now
        var lastIteration = started
        var lastLoss = 0.0
        let core = renderer.render(
            r.body.task, contentCrop: r.content, canvasCrop: r.canvas, reference: r.reference,
            temporal: r.temporal, guides: r.guides, regionReference: r.regionReference,
            stop: { [self] in isCancelled(lease) }
        ) { p in
            lastLoss = p.bestLoss
            if slowdown > 1 { Thread.sleep(forTimeInterval: (slowdown - 1) * (now - lastIteration)) }
            lastIteration = now
            report(
                .progress(
                    ProgressBody(lease: lease, iteration: p.iteration, iterations: p.iterations, loss: p.loss), now: now
                ))
        }
        guard !isCancelled(lease) else {
            return report(.stoppedTile(lease: lease, reason: "stopped: the lease was revoked"))
        }
        report(
            .rendered(
                lease: lease,
                result: Message(
                    .result, ResultBody(lease: lease, seconds: now - started, loss: lastLoss),
                    payload: [PixelCodec.encode(core)])))
    }
}
