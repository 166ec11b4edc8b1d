import ArgumentParser
import BLASKernel
import Dashboard
import FarmClient
import FarmCoordinator
import Foundation
import JobModel
import Rendering
import StyleCore
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

    @Argument(help: "Content image (PNG or JPEG).") var content: String
    @Argument(help: "One or more style images.") var styles: [String]
    @Option(name: .shortAndLong, help: "Output image (.png, .tif).") var output: String
    @OptionGroup(title: "Render settings") var job: JobOptions
    @Option(
        help:
            "Save the best image so far every N iterations (0: never), as OUT with the iteration number (untiled renders)."
    )
    var checkpointEvery = 0
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Render on an embedded farm: a coordinator and N worker processes on loopback (0: in this process).")
    var localFarm = 0
    @Option(
        help: ArgumentHelp(
            "With --local-farm, serve the dashboard on HOST:PORT (e.g. 127.0.0.1:8787).", valueName: "host:port"))
    var dashboard: String?

    func validate() throws {
        guard (0 ... 64).contains(localFarm) else { throw ValidationError("--local-farm must be between 0 and 64") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be non-negative") }
        _ = try jobDescription()
    }

    /// The job these arguments describe.
    func jobDescription() throws -> JobDescription {
        var d = try job.description(styles: styles)
        d.content = content
        d.output = output
        return d
    }

    func run() throws {
        do {
            if localFarm > 0 { try renderOnEmbeddedFarm() } else { try renderInProcess() }
        } catch let problem as JobProblem {
            throw JobOptions.explain(problem)
        }
    }

    func renderInProcess() throws {
        let render = try LocalRender(try jobDescription(), checkpointEvery: checkpointEvery)
        let network = try compute.loadNetwork(pooling: render.settings.poster.pooling)
        try render.checkFits(network: network, available: Int(clamping: ProcessInfo.processInfo.physicalMemory))
        printError(render.summary + ", \(compute.threads) threads, \(KernelSelection.inUse.line)")
        let bar = ProgressBar(total: render.steps, label: "render")
        let line = try render.run(network: network) { p in
            bar.update(p.done, status: p.status, elapsed: p.elapsed, work: p.workFraction)
        }
        bar.finish()
        print(line)
    }

    func renderOnEmbeddedFarm() throws {
        let job = try FarmJob(try jobDescription())
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-local-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        let perWorker = max(1, compute.threads / localFarm)
        printError("embedded farm: a coordinator and \(localFarm) workers × \(perWorker) threads on loopback")
        let farm = try LocalFarm(
            stateDirectory: state, weights: WeightsLocation.resolve(explicit: compute.weights),
            workers: localFarm, threadsPerWorker: perWorker)
        defer { farm.shutdown() }
        var options = DashboardOptions()
        options.dashboard = dashboard ?? "off"
        let server = try options.start(farm.coordinator)
        defer { server?.stop() }
        let client = FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity)
        let id = try job.submit(to: client)
        let final = try FarmProgress.wait(client: client, job: id, output: job.output, localFarm: farm)
        let compute = try client.status().workers.reduce(0) { $0 + $1.computeSeconds }
        printError(
            String(
                format: "farm: %d tiles, %.1f s wall, %.1f s of worker compute: %.0f%% of %d workers busy",
                final.tilesTotal, final.elapsed, compute,
                100 * compute / (Double(localFarm) * max(final.elapsed, 1e-9)),
                localFarm))
    }
}
