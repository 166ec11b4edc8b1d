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

/// A print-size render: the whole image at a coarse size, then tiled levels up to the output size.
public struct PosterJob: Sendable {
    public var content: PlanarImage
    public var styles: [(image: PlanarImage, weight: Float)]
    public var width: Int
    public var height: Int
    /// Long side of the first, untiled level.
    public var coarseSize = 512
    public var tileSize = 512
    public var overlap = 64
    public var margin = 32
    /// Iterations per level; the last value repeats for further levels.
    public var iterations = [200, 100, 60]
    /// Iterations of the shifted second pass, as a fraction of the level's.
    public var shiftedPassFraction: Float = 0.5
    /// Run the half-tile-shifted second pass (turn off only to measure seams).
    public var shiftedPass = true
    /// Long side of the style images when their Gram targets are computed (× `styleScale`).
    public var styleSize = 512
    public var styleScale: Float = 1
    public var options = RenderOptions()
    public var pooling: Pool2x2.Kind = .max

    public init(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], width: Int, height: Int) {
        self.content = content
        self.styles = styles
        self.width = width
        self.height = height
    }

    /// Level sizes: the coarse size, doubling up to the output size (the last level is the output).
    public var levels: [LevelSpec] {
        let long = max(width, height)
        var longs = [min(coarseSize, long)]
        while longs.last! < long { longs.append(min(long, longs.last! * 2)) }
        return longs.enumerated().map { i, l in
            let w = max(1, Int((Double(width) * Double(l) / Double(long)).rounded()))
            let h = max(1, Int((Double(height) * Double(l) / Double(long)).rounded()))
            let its = iterations[min(i, iterations.count - 1)]
            guard i > 0 else { return LevelSpec(width: w, height: h, iterations: its, passes: []) }
            var passes = [TilePlan(width: w, height: h, tileSize: tileSize, overlap: overlap, margin: margin)]
            if shiftedPass {
                passes.append(TilePlan(width: w, height: h, tileSize: tileSize, overlap: overlap, margin: margin, shifted: true))
            }
            return LevelSpec(width: w, height: h, iterations: its, passes: passes)
        }
    }

    /// The job's Gram targets, computed once and shared by every level and tile.
    public func gramTargets(network: VGG19) -> GramTargets {
        GramTargets.compute(network: network, styles: styles, longSide: max(16, Int((Float(styleSize) * styleScale).rounded())),
                            layers: options.loss.styleLayers.map(\.name))
    }

    /// Where a render is: level, pass, tile, and the tile's own optimisation progress.
    public struct Progress: Sendable {
        public var level: Int, levels: Int, pass: Int, tile: Int, tiles: Int
        /// Iterations finished over the whole job, and the job's total.
        public var iterationsDone: Int, iterationsTotal: Int
        /// Fraction of the job's work done, weighting each iteration by the pixels it optimises (a tile
        /// iteration of a fine level costs more than one of the coarse level): what an ETA should use.
        public var workFraction: Double
        public var loss: Double
        public var elapsed: Double
    }

    /// Total pixel-iterations of the job: the work measure behind ETAs and `stylefarm plan`.
    public var totalWork: Double {
        levels.reduce(0.0) { sum, level in
            level.passes.isEmpty ? sum + Double(level.width * level.height * level.iterations)
                : sum + level.passes.enumerated().reduce(0.0) {
                    $0 + Double($1.element.tiles.reduce(0) { $0 + $1.render.area } * passIterations(level, $1.offset))
                }
        }
    }

    /// Total iterations of the job (untiled level: one per iteration; tiled: per tile and pass).
    public var totalIterations: Int {
        levels.reduce(0) { sum, level in
            level.passes.isEmpty ? sum + level.iterations
                : sum + level.passes.enumerated().reduce(0) { $0 + $1.element.tiles.count * passIterations(level, $1.offset) }
        }
    }

    /// Iterations of a pass of a level: the level's for the first, a fraction for the shifted one.
    public func passIterations(_ level: LevelSpec, _ pass: Int) -> Int {
        pass == 0 ? level.iterations : max(1, Int((Float(level.iterations) * shiftedPassFraction).rounded()))
    }

    /// Renders in this process, tiles one after another. Returns the RGB result.
    public func render(network baseNetwork: VGG19, progress: (Progress) -> Void = { _ in }) -> PlanarImage {
        let network = baseNetwork.pooling == pooling ? baseNetwork : baseNetwork.with(pooling: pooling)
        let targets = gramTargets(network: network)
        let levels = self.levels
        let total = totalIterations, work = totalWork
        var done = 0, workDone = 0.0
        let clock = ContinuousClock.now
        func seconds() -> Double {
            let d = clock.duration(to: .now)
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        var canvas = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        for (li, level) in levels.enumerated() {
            let content = Resampler.resize(self.content, width: level.width, height: level.height)
            if li == 0 {
                var opts = options
                opts.iterations = level.iterations
                let objective = GatysObjective(network: network, config: opts.loss, content: CaffeImage(content), targets: targets)
                let result = StyleOptimization.run(objective: objective, start: CaffeImage(content), options: opts) { p in
                    progress(Progress(level: 0, levels: levels.count, pass: 0, tile: 0, tiles: 1,
                                      iterationsDone: done + p.iteration, iterationsTotal: total,
                                      workFraction: (workDone + Double(p.iteration * level.width * level.height)) / work,
                                      loss: p.loss, elapsed: seconds()))
                }
                done += level.iterations
                workDone += Double(level.iterations * level.width * level.height)
                canvas = result.image.planarImage()
                continue
            }
            canvas = Resampler.resize(canvas, width: level.width, height: level.height).clamped()
            for (pi, plan) in level.passes.enumerated() {
                var opts = options
                opts.iterations = passIterations(level, pi)
                let renderer = TileRenderer(network: network, options: opts, targets: targets)
                var blender = TileBlender(width: level.width, height: level.height, overlap: plan.overlap)
                for tile in plan.tiles {
                    let task = TileTask(level: li, pass: pi, tile: tile, iterations: opts.iterations)
                    let core = renderer.render(task, content: content, canvas: canvas) { p in
                        progress(Progress(level: li, levels: levels.count, pass: pi, tile: tile.index, tiles: plan.tiles.count,
                                          iterationsDone: done + p.iteration, iterationsTotal: total,
                                          workFraction: (workDone + Double(p.iteration * tile.render.area)) / work,
                                          loss: p.loss, elapsed: seconds()))
                    }
                    done += opts.iterations
                    workDone += Double(opts.iterations * tile.render.area)
                    blender.add(core, at: tile.core)
                }
                canvas = blender.result(fallback: canvas)
            }
        }
        return canvas
    }
}
