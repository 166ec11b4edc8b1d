import FarmProtocol
import Foundation
import Imaging
import StyleCore
import VGGWeights

/// The worker's compute thread: installs weights (decoding and measuring them takes seconds) and renders tiles,
/// in order, reporting each outcome as a `WorkerMachine.Event` through `report`. The network thread only ever
/// submits jobs and marks leases cancelled; everything the compute thread reads travels inside its job, so
/// nothing is shared but the queue and the cancelled set (both under `lock`).
final class TileComputer: @unchecked Sendable {  // unchecked: `queue` and `cancelled` are only touched under `lock`
    /// One tile, with everything it needs decoded.
    struct RenderJob {
        var body: AssignBody
        var network: VGG19
        var content: PlanarImage
        var canvas: PlanarImage
        var temporal: TemporalTarget?
        var targets: GramTargets
        var reference: GramTargets?
    }

    enum Job {
        case installWeights(sha: String, bytes: [UInt8])
        case render(RenderJob)
    }

    /// What an installed set of weights gives the network thread.
    struct Installed {
        var network: VGG19
        var sha: String
        var speed: Double
    }

    let slowdown: Double
    let report: @Sendable (WorkerMachine.Event) -> Void
    let installed: @Sendable (Installed) -> Void
    let lock = NSLock()
    let available = DispatchSemaphore(value: 0)
    var queue: [Job] = []
    var cancelled: Set<String> = []
    let epoch: ContinuousClock.Instant

    /// `epoch`: the network thread's time zero, so both threads' `now` agree. `slowdown` (tests and demos only): sleep (slowdown − 1) × each iteration's compute time, as a machine
    /// under other load would. The speed measured at install is not slowed, so the coordinator learns it from results.
    init(epoch: ContinuousClock.Instant, slowdown: Double, installed: @escaping @Sendable (Installed) -> Void,
         report: @escaping @Sendable (WorkerMachine.Event) -> Void) {
        self.epoch = epoch
        self.slowdown = slowdown
        self.installed = installed
        self.report = report
        let thread = Thread { [self] in loop() }
        thread.stackSize = 16 << 20
        thread.start()
    }

    var now: Double {
        let d = epoch.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    func submit(_ job: Job) {
        lock.lock()
        queue.append(job)
        lock.unlock()
        available.signal()
    }

    /// The tile under `lease` stops at its next iteration (or is skipped if it has not started).
    func cancel(_ lease: String) {
        lock.lock()
        cancelled.insert(lease)
        lock.unlock()
    }

    func isCancelled(_ lease: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled.contains(lease)
    }

    func loop() {
        while true {
            available.wait()
            lock.lock()
            let job = queue.removeFirst()
            lock.unlock()
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
            installed(Installed(network: network, sha: sha, speed: speed))
            report(.weightsInstalled(sha: sha, speed: speed))
        } catch {
            report(.installFailed(kind: "weights", sha: sha, reason: "\(error)"))
        }
    }

    func render(_ r: RenderJob) {
        let lease = r.body.lease
        defer {
            lock.lock()
            cancelled.remove(lease)
            lock.unlock()
        }
        guard !isCancelled(lease) else { return report(.stoppedTile(lease: lease, reason: "stopped before it started")) }
        let net = r.network.pooling == r.body.pooling ? r.network : r.network.with(pooling: r.body.pooling)
        let renderer = TileRenderer(network: net, options: r.body.options, targets: r.targets)
        let started = now
        var lastIteration = started
        var lastLoss = 0.0
        let core = renderer.render(r.body.task, contentCrop: r.content, canvasCrop: r.canvas, reference: r.reference,
                                   temporal: r.temporal, stop: { [self] in isCancelled(lease) }) { p in
            lastLoss = p.bestLoss
            if slowdown > 1 { Thread.sleep(forTimeInterval: (slowdown - 1) * (now - lastIteration)) }
            lastIteration = now
            report(.progress(ProgressBody(lease: lease, iteration: p.iteration, iterations: p.iterations, loss: p.loss), now: now))
        }
        guard !isCancelled(lease) else { return report(.stoppedTile(lease: lease, reason: "stopped: the lease was revoked")) }
        report(.rendered(lease: lease, result: Message(.result, ResultBody(lease: lease, seconds: now - started, loss: lastLoss),
                                                       payload: [PixelCodec.encode(core)])))
    }
}
