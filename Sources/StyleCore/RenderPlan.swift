import Foundation
import Tiling

/// What a poster render will do and cost, before any compute (`stylefarm plan`, and `bench --poster`'s prediction):
/// its levels and tile grids, the largest optimisation, the peak memory of one worker and the time on this machine.
public struct RenderPlan: Sendable {
    /// One level: its size, iterations, and tile grids (none: untiled).
    public struct Level: Sendable {
        public var width: Int, height: Int, iterations: Int
        /// Columns x rows of each pass (the second is the half-tile-shifted one).
        public var grids: [(columns: Int, rows: Int)]
        public var tiles: Int
        /// Iterations of the shifted pass, when there is one.
        public var shiftedIterations: Int?
    }

    public var width: Int, height: Int
    public var levels: [Level]
    /// The largest rectangle one optimisation covers (a tile with its margins, or the untiled level).
    public var largest: (width: Int, height: Int)
    public var lbfgsHistory: Int
    public var regions: Int
    /// Pixel-iterations with the set-up (`PosterSettings.estimatedWork`).
    public var work: Double
    /// The share of iterations the stopping rule is expected to save (`StoppingRule.measuredSaving` at the default
    /// tolerance; nothing known, so 0, at another), already taken off `work`.
    public var stoppingSaving: Double
    public var tolerance: Double
    /// With a network: a worker's peak bytes, and seconds per pixel-iteration measured on this machine's threads.
    public var peakBytes: Int?
    public var secondsPerPixelIteration: Double?

    /// The estimated wall time on this machine, when the network was there to measure it.
    public var seconds: Double? { secondsPerPixelIteration.map { $0 * work } }

    /// The plan of `poster`; with `network`, also the memory and time (the time measured on the threads
    /// `Compute.configure` set).
    public init(_ poster: PosterSettings, network: VGG19?) {
        (width, height) = (poster.width, poster.height)
        lbfgsHistory = poster.options.optimizer.lbfgsHistory
        regions = poster.control?.regions.count ?? 0
        tolerance = poster.options.relativeTolerance
        stoppingSaving = tolerance == RenderOptions.defaultTolerance ? StoppingRule.measuredSaving : 0
        work = poster.estimatedWork(startsFromImage: false) * (1 - stoppingSaving)
        var largest = (width: 0, height: 0)
        func note(_ w: Int, _ h: Int) { if w * h > largest.width * largest.height { largest = (w, h) } }
        levels = poster.levels.map { level in
            if level.passes.isEmpty { note(level.width, level.height) }
            for plan in level.passes { note(plan.largestRender.width, plan.largestRender.height) }
            return Level(
                width: level.width, height: level.height,
                iterations: level.iterations,
                grids: level.passes.map { ($0.columns, $0.rows) }, tiles: level.passes.map(\.tiles.count).reduce(0, +),
                shiftedIterations: level.passes.count > 1 ? poster.passIterations(level, 1) : nil)
        }
        self.largest = largest
        guard let network else { return }
        peakBytes = ResourceEstimate.peakBytes(
            network: network, width: largest.width, height: largest.height,
            lbfgsHistory: lbfgsHistory, regions: regions)
        secondsPerPixelIteration = ResourceEstimate.secondsPerPixelIteration(
            network: network, size: ResourceEstimate.estimateSize(width: largest.width, height: largest.height),
            regions: regions)
    }
}
