import ArgumentParser
import BLASKernel
import FarmProtocol
import Foundation
import Imaging
import JobModel
import StyleCore
import Tiling
import VGGWeights

/// `stylefarm plan`: what a render will do and cost, before any compute.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show the levels, tile grids, memory per worker and estimated time of a render.",
        discussion: "Takes the same size options as `render`. The time comes from timing one iteration on this machine."
    )

    @Option(help: "Content image (for its aspect ratio when only --size or one side is given).") var content: String?
    @Option(help: "A TOML job file (its settings; options given here win).") var job: String?
    @OptionGroup(title: "Render settings") var settings: JobOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        var description = try job.map { try JobDescription.read(URL(fileURLWithPath: $0)) } ?? JobDescription()
        description = try description.overriding(try settings.description(styles: []))
        let image = try (content ?? description.content).map { try ImageIO.read(URL(fileURLWithPath: $0)).image }
        let poster: PosterSettings
        do {
            poster = try description.settings(contentWidth: image?.width ?? 1, contentHeight: image?.height ?? 1).poster
        } catch let p as JobProblem {
            throw JobOptions.explain(p)
        }
        let weights = try? WeightsFile.read(WeightsLocation.resolve(explicit: compute.weights))
        Compute.configure(threads: compute.threads)
        let plan = RenderPlan(poster, network: weights.map { VGG19(weights: $0) })
        let label =
            description.size?.print.map { " (\($0) at \(Int(saturating: description.size?.dpi ?? 300)) DPI)" } ?? ""
        print(
            "output \(plan.width)x\(plan.height)\(label), \(String(format: "%.1f", Double(plan.width * plan.height) / 1e6)) megapixels"
        )
        for (i, level) in plan.levels.enumerated() {
            guard !level.grids.isEmpty else {
                print("level \(i + 1): \(level.width)x\(level.height) untiled, \(level.iterations) iterations")
                continue
            }
            let grids = level.grids.map { "\($0.columns)x\($0.rows)" }.joined(separator: " + shifted ")
            print(
                "level \(i + 1): \(level.width)x\(level.height), tiles \(grids) (\(level.tiles) tiles), \(level.iterations) iterations"
                    + (level.shiftedIterations.map { " (shifted pass \($0))" } ?? ""))
        }
        print(
            plan.tolerance > 0
                ? String(
                    format:
                        "stopping rule: an optimisation stops when its best loss falls less than %g%% in %d iterations; "
                        + "the estimate takes off the %.0f%% of iterations it saved on measured loss curves%@",
                    plan.tolerance * 100, StoppingRule.window, plan.stoppingSaving * 100,
                    plan.tolerance == RenderOptions.defaultTolerance ? "" : " (none known at this tolerance)")
                : "stopping rule: off (--tolerance 0): every iteration runs")
        guard let bytes = plan.peakBytes, let rate = plan.secondsPerPixelIteration, let seconds = plan.seconds else {
            print("peak memory per worker and time: need the weights (run `stylefarm weights install`)")
            return
        }
        print(
            String(
                format: "peak memory per worker: %.0f MiB (largest optimisation %dx%d, L-BFGS history %d%@)",
                Double(bytes) / 1048576, plan.largest.width, plan.largest.height, plan.lbfgsHistory,
                plan.regions > 0 ? ", \(plan.regions) regions' guides" : ""))
        print(
            String(
                format:
                    "estimated time on this machine (%d threads): %@ (%.0f s; %.3g µs per pixel-iteration, measured with the %@)",
                compute.threads, ProgressBar.format(seconds), seconds, rate * 1e6, KernelSelection.inUse.line))
    }

}

/// `stylefarm seams`: how visible a tile grid is in an image.
struct SeamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seams",
        abstract: "Mean gradient across the planned tile boundaries divided by the interior mean (1.0 = invisible).")
    @Argument(help: "Image to measure.") var image: String
    @Option(help: "Tile size of the grid to check.") var tile = 512
    @Option(help: "Overlap of the grid to check.") var overlap = 64
    @Flag(help: "Check the half-tile-shifted grid instead.") var shifted = false

    func run() throws {
        let img = try ImageIO.read(URL(fileURLWithPath: image)).image
        guard tile >= 2 * overlap + 2 else { throw ValidationError("--overlap must be less than half of --tile") }
        let plan = TilePlan(
            width: img.width, height: img.height, tileSize: tile, overlap: overlap, margin: 0, shifted: shifted)
        print(
            String(
                format: "seam score %.4f (%dx%d, %dx%d tiles of %d with overlap %d)", SeamMetric.score(img, plan: plan),
                img.width, img.height, plan.columns, plan.rows, tile, overlap))
    }
}
