import Imaging
import Tiling

/// One level of a coarse-to-fine render.
public struct LevelSpec: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int
    public var iterations: Int
    /// Tile plans of the level's passes (empty for the untiled first level).
    public var passes: [TilePlan]
}

/// One step of a poster render: one pass of one level over its tile plan.
public struct PosterStage: Sendable, Hashable, Codable {
    /// Position in `PosterJob.stages`.
    public var index: Int
    public var level: Int
    public var pass: Int
    /// The level's size.
    public var width: Int
    public var height: Int
    public var plan: TilePlan
    /// Iterations of each tile.
    public var iterations: Int

    /// The work of one of its tiles.
    public func task(_ tile: Tile) -> TileTask {
        TileTask(level: level, pass: pass, tile: tile, iterations: iterations)
    }

    /// Pixels one iteration of the stage optimises: its tiles' render rectangles.
    public var area: Int { plan.tiles.reduce(0) { $0 + $1.render.area } }

    /// Pixel-iterations of the stage.
    public var work: Double { Double(area * iterations) }
}

/// A poster's settings without its images: what a farm job carries, and all a plan needs. The defaults of every
/// render live here (`render`, job files, `submit`, `video` and `plan` start from them).
public struct PosterSettings: Sendable, Equatable, Codable {
    public var width: Int
    public var height: Int
    /// Long side of the first, untiled level.
    public var coarseSize = 512
    /// Tile size: the optimised part of a tile, before the margin.
    public var tileSize = 512
    /// Overlap between neighbouring tiles, blended with smooth windows.
    public var overlap = 64
    /// Context around each tile: optimised, then cropped away. Sixteen, measured by the quality guard
    /// (Docs/performance.md, "A margin of 16"): against 32 every loss within 1.4% (the total +0.01%) and a lower seam
    /// score (1.017 against 1.021), for 11% fewer pixel-iterations on a poster's tiled levels.
    public var margin = 16
    /// Iterations per level; the last value repeats for further levels.
    public var iterations = [200, 100, 60]
    /// Iterations of the shifted second pass, as a fraction of the level's. A quarter, measured by the quality guard
    /// (Docs/performance.md, "The shifted pass at a quarter"): against a half, the guard's output had a 3.5% lower
    /// total loss (style 11% lower, content 1.6% higher) and a lower seam score (1.021 against 1.027), in 15% less
    /// wall time; more shifted iterations pull every tile toward its own Grams and away from the whole's.
    public var shiftedPassFraction: Float = 0.25
    /// Run the half-tile-shifted second pass (turn off only to measure seams).
    public var shiftedPass = true
    /// Localise each tile's style target (`GramTargets.localized`); off, every tile matches the whole
    /// image's Grams on its own (only to measure what localising gains).
    public var localTargets = true
    /// Long side of the style images when their Gram targets are computed (× `styleScale`).
    public var styleSize = 512
    public var styleScale: Float = 1
    /// The loss (`LossConfig.recommended`), the optimizer and the tolerance; `options.iterations` is that of an
    /// untiled render in one process (a poster's levels have `iterations`).
    public var options = RenderOptions.recommended
    public var pooling: PoolingKind = .max
    /// Perceptual control: regions, colour and scale (nil: none).
    public var control: StyleControl?

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

extension PosterSettings {
    /// What of the content's file (and of a frame's start image, its mask and the region mask) a render uses: the
    /// output's size. A larger file is read reduced to it (`ImageNeed`), in `render` and on the farm alike.
    public var contentNeed: ImageNeed { .atLeast(width: width, height: height) }

    /// What of style image `style`'s file (and of its mask) a render uses: the long side its targets are computed at
    /// (`styleSize` x `styleScale` x its own scale, as `GramTargets` computes it).
    public func styleNeed(style: Int) -> ImageNeed {
        let base = max(16, Int((Float(styleSize) * styleScale).rounded()))
        let scale = control?.options(style: style).scale ?? 1
        return .longSide(max(16, Int((Float(base) * scale).rounded())))
    }

    /// Whether the output is rendered in tiled levels (its long side is above the coarse size); else it is one
    /// untiled optimisation of `options.iterations`.
    public var isTiled: Bool { max(width, height) > coarseSize }

    /// Level sizes: the coarse size, doubling up to the output size (the last level is the output). An untiled
    /// output is its one level, optimised for `options.iterations` as `render` runs it, on a farm too.
    public var levels: [LevelSpec] {
        let long = max(width, height)
        var longs = [min(coarseSize, long)]
        while longs.last! < long { longs.append(min(long, longs.last! * 2)) }
        return longs.enumerated().map { i, l in
            let w = max(1, Int((Double(width) * Double(l) / Double(long)).rounded()))
            let h = max(1, Int((Double(height) * Double(l) / Double(long)).rounded()))
            let its = isTiled ? iterations[min(i, iterations.count - 1)] : options.iterations
            guard i > 0 else { return LevelSpec(width: w, height: h, iterations: its, passes: []) }
            var passes = [TilePlan(width: w, height: h, tileSize: tileSize, overlap: overlap, margin: margin)]
            if shiftedPass {
                passes.append(
                    TilePlan(width: w, height: h, tileSize: tileSize, overlap: overlap, margin: margin, shifted: true))
            }
            return LevelSpec(width: w, height: h, iterations: its, passes: passes)
        }
    }

    /// The job as a sequence of stages: the untiled first level (one tile covering it), then each pass of each
    /// tiled level. Stages run in order; the tiles of one stage are independent of each other. A job that
    /// `startsFromImage` (a video frame) renders only its output level. A function of the settings alone: planning
    /// a job needs no images.
    public func stages(startsFromImage: Bool) -> [PosterStage] {
        var out: [PosterStage] = []
        let levels = self.levels
        for (li, level) in levels.enumerated() where !startsFromImage || li == levels.count - 1 {
            let plans =
                level.passes.isEmpty
                ? [
                    TilePlan(
                        width: level.width, height: level.height, tileSize: max(level.width, level.height, 2),
                        overlap: 0, margin: 0)
                ]
                : level.passes
            for (pi, plan) in plans.enumerated() {
                out.append(
                    PosterStage(
                        index: out.count, level: li, pass: pi, width: level.width, height: level.height,
                        plan: plan, iterations: passIterations(level, pi)))
            }
        }
        return out
    }

    /// Total pixel-iterations of the job's stages.
    public func totalWork(startsFromImage: Bool) -> Double {
        stages(startsFromImage: startsFromImage).reduce(0.0) { $0 + $1.work }
    }

    /// What the job costs in pixel-iterations, set-up included: each tile's (or untiled level's) style targets and
    /// content features are forward passes worth about one more iteration (`setupIterations`). The time estimate
    /// of `stylefarm plan`; at a few iterations per tile the set-up is a third of the work.
    public func estimatedWork(startsFromImage: Bool) -> Double {
        stages(startsFromImage: startsFromImage).reduce(0.0) {
            $0 + Double($1.area) * (Double($1.iterations) + Self.setupIterations)
        }
    }

    /// A forward pass to relu5_1 for the targets and one to relu4_2 for the content, in iterations (forward and
    /// backward): the forward is about half an iteration.
    public static let setupIterations = 1.0

    /// Iterations of a pass of a level: the level's for the first, a fraction for the shifted one.
    public func passIterations(_ level: LevelSpec, _ pass: Int) -> Int {
        pass == 0 ? level.iterations : max(1, Int((Float(level.iterations) * shiftedPassFraction).rounded()))
    }
}
