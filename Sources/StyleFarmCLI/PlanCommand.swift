import ArgumentParser
import Foundation
import Imaging
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
    @Option(help: "Long side in pixels.") var size: Int?
    @Option(help: "Width in pixels.") var width: Int?
    @Option(help: "Height in pixels.") var height: Int?
    @Option(name: .customLong("print"), help: "Print size (see `render --help`).") var printSize: String?
    @Option(help: "Dots per inch for --print.") var dpi: Double = 300
    @Option(help: "L-BFGS history (memory).") var lbfgsHistory = 10
    @OptionGroup(title: "Tiled levels") var tiling: TilingOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let (w, h) = try outputSize()
        var job = PosterJob(content: PlanarImage(width: 1, height: 1, channels: 3, fill: 0), styles: [], width: w, height: h)
        try tiling.configure(&job)
        let label = printSize.map { " (\($0) at \(Int(dpi)) DPI)" } ?? ""
        print("output \(w)x\(h)\(label), \(String(format: "%.1f", Double(w * h) / 1e6)) megapixels")
        let weights = try? WeightsFile.read(WeightsLocation.resolve(explicit: compute.weights))
        let network = weights.map { VGG19(weights: $0) }
        var largest = (0, 0)
        for (i, level) in job.levels.enumerated() {
            if level.passes.isEmpty {
                print("level \(i + 1): \(level.width)x\(level.height) untiled, \(level.iterations) iterations")
                largest = Self.larger(largest, (level.width, level.height))
                continue
            }
            let grids = level.passes.map { "\($0.columns)x\($0.rows)" }.joined(separator: " + shifted ")
            let tiles = level.passes.map(\.tiles.count).reduce(0, +)
            print("level \(i + 1): \(level.width)x\(level.height), tiles \(grids) (\(tiles) tiles), \(level.iterations) iterations"
                + (level.passes.count > 1 ? " (shifted pass \(job.settings.passIterations(level, 1)))" : ""))
            for plan in level.passes {
                let r = plan.largestRender
                largest = Self.larger(largest, (r.width, r.height))
            }
        }
        guard let network else {
            print("peak memory per worker and time: need the weights (run `stylefarm weights install`)")
            return
        }
        let bytes = ResourceEstimate.peakBytes(network: network, width: largest.0, height: largest.1, lbfgsHistory: lbfgsHistory)
        print(String(format: "peak memory per worker: %.0f MiB (largest optimisation %dx%d, L-BFGS history %d)",
                     Double(bytes) / 1048576, largest.0, largest.1, lbfgsHistory))
        Compute.configure(threads: compute.threads)
        let rate = ResourceEstimate.secondsPerPixelIteration(network: network)
        let seconds = rate * job.totalWork
        print(String(format: "estimated time on this machine (%d threads, OpenBLAS %@): %@ (%.3g µs per pixel-iteration)",
                     compute.threads, BLAS.coreName, ProgressBar.format(seconds), rate * 1e6))
    }

    static func larger(_ a: (Int, Int), _ b: (Int, Int)) -> (Int, Int) { a.0 * a.1 >= b.0 * b.1 ? a : b }

    func outputSize() throws -> (Int, Int) {
        if let printSize { return try PrintSize.parse(printSize).pixels(dpi: dpi) }
        if let width, let height { return (width, height) }
        let aspect: Double
        if let content { let img = try ImageIO.read(URL(fileURLWithPath: content)).image; aspect = Double(img.width) / Double(img.height) }
        else { aspect = 1 }
        if let width { return (width, max(1, Int((Double(width) / aspect).rounded()))) }
        if let height { return (max(1, Int((Double(height) * aspect).rounded())), height) }
        let long = size ?? 512
        return aspect >= 1 ? (long, max(1, Int((Double(long) / aspect).rounded()))) : (max(1, Int((Double(long) * aspect).rounded())), long)
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
        let plan = TilePlan(width: img.width, height: img.height, tileSize: tile, overlap: overlap, margin: 0, shifted: shifted)
        print(String(format: "seam score %.4f (%dx%d, %dx%d tiles of %d with overlap %d)", SeamMetric.score(img, plan: plan),
                     img.width, img.height, plan.columns, plan.rows, tile, overlap))
    }
}
