import ArgumentParser
import Dashboard
import FarmClient
import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmTransport
import FarmWorker
import Foundation
import Imaging
import StyleCore
import Synchronization
import VGGWeights

/// `stylefarm render`: one image, in this process or on an embedded local farm.
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render one image in this process, or on an embedded local farm with --local-farm N.",
        discussion: """
            Optimises an image so that its VGG19 features match CONTENT (at --content-layer) and the Gram
            matrices of the STYLE images (relu1_1 … relu5_1), plus total variation. Output: 16-bit PNG (or
            8-bit with --bit-depth 8), or 16-bit TIFF when OUT ends in .tif/.tiff. Outputs larger than
            --coarse-size are rendered coarse-to-fine in overlapping tiles.
            """)

    @OptionGroup var job: RenderArguments
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Render on an embedded farm: a coordinator and N worker processes on loopback (0: in this process).")
    var localFarm = 0
    @Option(help: ArgumentHelp("With --local-farm, serve the dashboard on HOST:PORT (e.g. 127.0.0.1:8787).", valueName: "host:port"))
    var dashboard: String?

    func validate() throws {
        guard (0 ... 64).contains(localFarm) else { throw ValidationError("--local-farm must be between 0 and 64") }
    }

    func run() throws {
        guard localFarm > 0 else { return try job.render(compute: compute) }
        let (spec, content, styles) = try job.farmJob(name: URL(fileURLWithPath: job.output).lastPathComponent, priority: 50)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-local-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        let perWorker = max(1, compute.threads / localFarm)
        printError("embedded farm: a coordinator and \(localFarm) workers × \(perWorker) threads on loopback")
        let farm = try LocalFarm(stateDirectory: state, weights: WeightsLocation.resolve(explicit: compute.weights),
                                 workers: localFarm, threadsPerWorker: perWorker)
        defer { farm.shutdown() }
        var options = DashboardOptions()
        options.dashboard = dashboard ?? "off"
        let server = try options.start(farm.coordinator.monitor)
        defer { server?.stop() }
        let client = FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity)
        let id = try client.submit(spec, content: content, styles: styles)
        let final = try FarmWait.untilDone(client: client, job: id, output: URL(fileURLWithPath: job.output), localFarm: farm)
        let compute = try client.status().workers.reduce(0) { $0 + $1.computeSeconds }
        printError(String(format: "farm: %d tiles, %.1f s wall, %.1f s of worker compute: %.0f%% of %d workers busy",
                          final.tilesTotal, final.elapsed, compute, 100 * compute / (Double(localFarm) * max(final.elapsed, 1e-9)),
                          localFarm))
    }
}

extension RenderArguments {
    /// A farm job for these arguments, with the image files' bytes (read and decoded here first, so that
    /// a bad file is reported before anything is sent).
    func farmJob(name: String, priority: Int) throws -> (JobSpec, [UInt8], [[UInt8]]) {
        let contentURL = URL(fileURLWithPath: content)
        let contentImage = try ImageIO.read(contentURL).image
        let styleURLs = styles.map { URL(fileURLWithPath: $0) }
        for url in styleURLs { _ = try ImageIO.read(url) }
        let weights = try styleBlend.map { try Self.floats($0, count: styles.count, name: "--style-blend") } ?? styles.map { _ in 1 }
        let target = try outputSize(content: contentImage)
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        let poster = try posterJob(content: blank, styles: weights.map { (blank, $0) }, width: target.width, height: target.height)
        let spec = JobSpec(name: name, priority: priority, poster: poster.settings, styleWeights: weights, crop: target.crop,
                           preserveColors: preserveColors, bitDepth: bitDepth, dpi: target.dpi,
                           format: JobSpec.format(for: URL(fileURLWithPath: output)))
        try spec.validate()
        return (spec, [UInt8](try Data(contentsOf: contentURL)), try styleURLs.map { [UInt8](try Data(contentsOf: $0)) })
    }
}

/// Waiting for a farm job with a progress bar, then fetching its output.
enum FarmWait {
    @discardableResult
    /// With `progress`, it gets each status instead of the progress bar drawing it. With `localFarm`, waiting
    /// stops with an error once none of its workers runs (the job could never finish).
    static func untilDone(client: FarmClient, job id: String, output: URL, localFarm: LocalFarm? = nil,
                          progress: ((JobStatus) -> Void)? = nil) throws -> JobStatus {
        var bar: ProgressBar?
        let final = try client.wait(job: id) { s in
            if let localFarm, !s.state.isFinal, !localFarm.anyWorkerRunning {
                bar?.finish()
                throw ValidationError("every worker of the embedded farm has exited (see their messages above); job \(id) cannot finish")
            }
            if let progress { return progress(s) }
            if bar == nil { bar = ProgressBar(total: s.tilesTotal, label: "farm") }
            bar!.update(s.tilesDone, status: "stage \(min(s.stage + 1, s.stages))/\(s.stages) \(s.state.rawValue)"
                + (s.detail.map { ": " + $0 } ?? ""), elapsed: s.elapsed, work: s.workFraction)
        }
        bar?.finish()
        guard final.state == .done else {
            throw ValidationError("job \(id) \(final.state.rawValue): \(final.detail ?? "no reason given")")
        }
        if let localFarm {  // same machine: copy the file (a gigapixel output is bigger than any message)
            try DurableFile.copy(localFarm.coordinator.outputURL(job: id, format: JobSpec.format(for: output)), to: output)
        } else {
            try DurableFile.write(Data(try client.output(job: id)), to: output)
        }
        if progress == nil { print("wrote \(output.path) (job \(id), \(String(format: "%.1f", final.elapsed)) s on the farm)") }
        return final
    }
}

/// SIGINT and SIGTERM, delivered on a dispatch queue and kept behind a lock. (A plain global set from a C
/// signal handler was read once and hoisted out of the worker's loop by the optimiser: SIGTERM never stopped it.)
enum StopSignal {
    /// Whether a signal arrived, and the dispatch sources that listen (kept alive here).
    static let requested = Atomic(false)
    static let sources = Mutex<[DispatchSourceSignal]>([])

    static var isRequested: Bool { requested.load(ordering: .acquiring) }

    static func install() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for s in [SIGINT, SIGTERM] {
                signal(s, SIG_IGN)  // the dispatch source receives it instead
                let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
                source.setEventHandler { requested.store(true, ordering: .releasing) }
                source.resume()
                sources.append(source)
            }
        }
    }
}

/// True once SIGINT or SIGTERM arrived (after `stopOnSignals`); the long-running commands poll it.
var stopRequested: Bool { StopSignal.isRequested }

func stopOnSignals() { StopSignal.install() }
