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
        discussion: "Takes the same size options as `render`. The time comes from timing one iteration on this machine.")

    @Option(help: "Content image (for its aspect ratio when only --size or one side is given).") var content: String?
    @Option(help: "A TOML job file (its settings; options given here win).") var job: String?
    @OptionGroup(title: "Render settings") var settings: JobOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        var description = try job.map { try JobDescription.read(URL(fileURLWithPath: $0)) } ?? JobDescription()
        description = try description.overriding(try settings.description(styles: []))
        let image = try (content ?? description.content).map { try ImageIO.read(URL(fileURLWithPath: $0)).image }
        let poster: PosterSettings
        do { poster = try description.settings(contentWidth: image?.width ?? 1, contentHeight: image?.height ?? 1).poster } catch let p as JobProblem {
            throw JobOptions.explain(p)
        }
        let (w, h) = (poster.width, poster.height), lbfgsHistory = poster.options.optimizer.lbfgsHistory
        let label = description.size?.print.map { " (\($0) at \(Int(saturating: description.size?.dpi ?? 300)) DPI)" } ?? ""
        print("output \(w)x\(h)\(label), \(String(format: "%.1f", Double(w * h) / 1e6)) megapixels")
        let weights = try? WeightsFile.read(WeightsLocation.resolve(explicit: compute.weights))
        let network = weights.map { VGG19(weights: $0) }
        var largest = (0, 0)
        for (i, level) in poster.levels.enumerated() {
            if level.passes.isEmpty {
                print("level \(i + 1): \(level.width)x\(level.height) untiled, \(level.iterations) iterations")
                largest = Self.larger(largest, (level.width, level.height))
                continue
            }
            let grids = level.passes.map { "\($0.columns)x\($0.rows)" }.joined(separator: " + shifted ")
            let tiles = level.passes.map(\.tiles.count).reduce(0, +)
            print("level \(i + 1): \(level.width)x\(level.height), tiles \(grids) (\(tiles) tiles), \(level.iterations) iterations"
                + (level.passes.count > 1 ? " (shifted pass \(poster.passIterations(level, 1)))" : ""))
            for plan in level.passes {
                let r = plan.largestRender
                largest = Self.larger(largest, (r.width, r.height))
            }
        }
        guard let network else {
            print("peak memory per worker and time: need the weights (run `stylefarm weights install`)")
            return
        }
        let regions = poster.control?.regions.count ?? 0
        let bytes = ResourceEstimate.peakBytes(network: network, width: largest.0, height: largest.1, lbfgsHistory: lbfgsHistory,
                                               regions: regions)
        print(String(format: "peak memory per worker: %.0f MiB (largest optimisation %dx%d, L-BFGS history %d%@)",
                     Double(bytes) / 1048576, largest.0, largest.1, lbfgsHistory, regions > 0 ? ", \(regions) regions' guides" : ""))
        Compute.configure(threads: compute.threads)
        let rate = ResourceEstimate.secondsPerPixelIteration(network: network,
                                                             size: ResourceEstimate.estimateSize(width: largest.0, height: largest.1),
                                                             regions: regions)
        let seconds = rate * poster.estimatedWork(startsFromImage: false)
        print(String(format: "estimated time on this machine (%d threads): %@ (%.0f s; %.3g µs per pixel-iteration, measured with the %@)",
                     compute.threads, ProgressBar.format(seconds), seconds, rate * 1e6, KernelSelection.inUse.line))
    }

    static func larger(_ a: (Int, Int), _ b: (Int, Int)) -> (Int, Int) { a.0 * a.1 >= b.0 * b.1 ? a : b }
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
        let plan = TilePlan(width: img.width, height: img.height, tileSize: tile, overlap: overlap, margin: 0, shifted: shifted)
        print(String(format: "seam score %.4f (%dx%d, %dx%d tiles of %d with overlap %d)", SeamMetric.score(img, plan: plan),
                     img.width, img.height, plan.columns, plan.rows, tile, overlap))
    }
}
