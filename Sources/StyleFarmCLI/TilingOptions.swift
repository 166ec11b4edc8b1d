import ArgumentParser
import Foundation
import Imaging
import StyleCore
import Tiling

/// Options of coarse-to-fine tiled rendering, shared by `render` and `plan`.
struct TilingOptions: ParsableArguments {
    @Option(help: "Long side of the first, untiled level; larger outputs are rendered in tiled levels.")
    var coarseSize = 512
    @Option(help: "Tile size in pixels (the optimised part, before the margin).")
    var tile = 512
    @Option(help: "Overlap between neighbouring tiles, blended with smooth windows.")
    var overlap = 64
    @Option(help: "Context margin around each tile: optimised, then cropped away.")
    var margin = 32
    @Option(help: "Comma-separated iterations per level, coarse first; the last repeats.")
    var levelIterations = "200,100,60"
    @Flag(help: "Skip the half-tile-shifted second pass of each tiled level.")
    var noShift = false
    @Flag(help: "Make every tile match the whole image's Grams, instead of targets localised to the tile.")
    var globalTileTargets = false
    @Option(help: "Long side of the style images when the shared Gram targets are computed.")
    var styleSize = 512
    @Option(help: "Iterations of the shifted pass as a fraction of the level's.")
    var shiftedFraction: Float = 0.5

    func validate() throws {
        guard coarseSize >= 16 else { throw ValidationError("--coarse-size must be at least 16") }
        guard tile >= 32 else { throw ValidationError("--tile must be at least 32") }
        guard overlap >= 0, tile >= 2 * overlap + 2 else { throw ValidationError("--overlap must be less than half of --tile") }
        guard margin >= 0 else { throw ValidationError("--margin must be non-negative") }
        guard shiftedFraction > 0 else { throw ValidationError("--shifted-fraction must be positive") }
        guard styleSize >= 16 else { throw ValidationError("--style-size must be at least 16") }
        _ = try iterations()
    }

    func iterations() throws -> [Int] {
        let v = levelIterations.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--level-iterations needs positive comma-separated integers, got '\(levelIterations)'")
        }
        return v.map { $0! }
    }

    /// Applies these options to a poster job.
    func configure(_ job: inout PosterJob) throws {
        job.coarseSize = coarseSize
        job.tileSize = tile
        job.overlap = overlap
        job.margin = margin
        job.iterations = try iterations()
        job.shiftedPass = !noShift
        job.localTargets = !globalTileTargets
        job.styleSize = styleSize
        job.shiftedPassFraction = shiftedFraction
    }
}

extension RenderArguments {
    /// The poster job these arguments describe, for images already loaded (the content fitted to the output).
    func posterJob(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], width: Int, height: Int) throws -> PosterJob {
        guard initialisation == "content", checkpointEvery == 0 else {
            throw ValidationError("--initialisation and --checkpoint-every apply to untiled renders in this process "
                + "(long side ≤ --coarse-size); tiled levels start from the upsampled coarser level")
        }
        var job = PosterJob(content: content, styles: styles, width: width, height: height)
        try tiling.configure(&job)
        job.options.loss = try lossConfig()
        job.options.optimizer = optimizerKind
        job.options.relativeTolerance = tolerance
        job.pooling = poolingKind
        job.styleScale = styleScale
        return job
    }

    /// Coarse-to-fine tiled rendering in this process, tiles one after another.
    func renderTiled(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], width: Int, height: Int,
                     network: VGG19, outURL: URL, dpi: Double?, threads: Int) throws {
        let job = try posterJob(content: content, styles: styles, width: width, height: height)
        let levels = job.levels
        printError("rendering \(width)x\(height) in \(levels.count) levels "
            + levels.map { "\($0.width)x\($0.height)" + ($0.passes.isEmpty ? "" : " (\($0.passes.map { "\($0.columns)x\($0.rows)" }.joined(separator: "+")) tiles)") }.joined(separator: ", ")
            + ", \(threads) threads, OpenBLAS \(BLAS.coreName)")
        let bar = ProgressBar(total: job.totalIterations, label: "render")
        var result = job.render(network: network) { p in
            bar.update(p.iterationsDone, status: "level \(p.level + 1)/\(p.levels) pass \(p.pass + 1) tile \(p.tile + 1)/\(p.tiles) "
                + String(format: "loss %.4g", p.loss), elapsed: p.elapsed, work: p.workFraction)
        }
        bar.finish()
        if preserveColors {
            result = ColorTransfer.preserveColors(styled: result, original: Resampler.resize(content, width: width, height: height)).clamped()
        }
        try ImageIO.write(result, to: outURL, bitDepth: bitDepth, dpi: dpi)
        Swift.print("wrote \(outURL.path) (\(width)x\(height))")
    }
}
