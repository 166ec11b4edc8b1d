import Imaging
import Tiling

/// A print-size render: the whole image at a coarse size, then tiled levels up to the output size. Its
/// settings (`PosterSettings`, read through as `job.tileSize` and so on) are everything but the images.
@dynamicMemberLookup
public struct PosterJob: Sendable {
    public var content: PlanarImage
    public var styles: [(image: PlanarImage, weight: Float)]
    public var settings: PosterSettings
    /// A video frame's start: the previous frame's result (warped onto this frame, or not). With it, only the
    /// output level is rendered (its tiled passes, or the one untiled pass of a small output), starting from
    /// this image instead of coarser levels.
    public var initial: PlanarImage?
    /// The temporal loss's target and mask at the output size (with `options.loss.temporalWeight` > 0).
    public var temporal: TemporalTarget?
    /// The images of perceptual control (`settings.control`): the regions' planes and the styles' masks.
    public var controlImages = ControlImages()

    public init(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], settings: PosterSettings) {
        self.content = content
        self.styles = styles
        self.settings = settings
    }

    /// A job with the default settings (`PosterSettings(width:height:)`).
    public init(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], width: Int, height: Int) {
        self.init(content: content, styles: styles, settings: PosterSettings(width: width, height: height))
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<PosterSettings, T>) -> T {
        get { settings[keyPath: keyPath] }
        set { settings[keyPath: keyPath] = newValue }
    }

    /// Level sizes: the coarse size, doubling up to the output size (the last level is the output).
    public var levels: [LevelSpec] { settings.levels }

    /// Long side of the style images when their targets are computed (each style's own scale multiplies it).
    var styleLongSide: Int { max(16, Int((Float(settings.styleSize) * settings.styleScale).rounded())) }

    /// The job's Gram targets, computed once and shared by every level and tile.
    public func gramTargets(network: VGG19) -> GramTargets {
        let longSide = styleLongSide, layers = settings.options.loss.styleLayers.map(\.name)
        guard let control = settings.control else {
            return GramTargets.compute(network: network, styles: styles, longSide: longSide, layers: layers)
        }
        return control.targets(
            network: network, styles: styles, images: controlImages, content: content, longSide: longSide,
            layers: layers)
    }

    /// Each region's targets (spatial control), or nil without regions; computed once and shared like `gramTargets`.
    public func regionTargets(network: VGG19) -> RegionTargets? {
        settings.control?.regionTargets(
            network: network, styles: styles, images: controlImages, content: content,
            longSide: styleLongSide,
            layers: settings.options.loss.styleLayers.map(\.name))
    }

    /// The regions' guides at a stage's size, or nil without regions; read per tile.
    public func guides(for stage: PosterStage) -> ImageRegionSource? {
        settings.control?.guides(controlImages, width: stage.width, height: stage.height)
    }

    /// Each region's reference Grams that localise a tiled stage's tile targets (`GramTargets.tileMeans`), or nil (no
    /// regions, the untiled first level, or `localTargets` off).
    public func stageRegionReference(_ stage: PosterStage, start: ImageRegionSource, network: VGG19) throws
        -> [GramTargets?]?
    {
        guard settings.localTargets, stage.level > 0, let guides = guides(for: stage) else { return nil }
        return try GramTargets.tileMeans(
            network: network, canvas: start, guides: guides, plan: stage.plan,
            layers: settings.options.loss.styleLayers.map(\.name))
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

    /// The job as a sequence of stages (`PosterSettings.stages`).
    public var stages: [PosterStage] { settings.stages(startsFromImage: initial != nil) }

    /// Total pixel-iterations of the job: the work measure behind ETAs and `stylefarm plan`.
    public var totalWork: Double { settings.totalWork(startsFromImage: initial != nil) }

    /// Total iterations of the job (per tile and pass).
    public var totalIterations: Int { stages.reduce(0) { $0 + $1.plan.tiles.count * $1.iterations } }

    /// The content image at a stage's size.
    public func content(for stage: PosterStage) -> PlanarImage {
        Resampler.resize(content, width: stage.width, height: stage.height)
    }

    /// The content image at a stage's size, computed per region (for canvases too big to hold; the pixels are
    /// those of `content(for:)`).
    public func contentSource(for stage: PosterStage) -> ImageRegionSource {
        ResizedImage(content, width: stage.width, height: stage.height)
    }

    /// The canvas a stage starts from: the previous pass's result after the first pass of a level; for a first
    /// pass, the `initial` image when there is one (its only level), the content for the coarsest level, else the
    /// previous level's result upsampled.
    public func startCanvas(for stage: PosterStage, previous: PlanarImage?, content: PlanarImage) throws -> PlanarImage
    {
        try startSource(for: stage, previous: previous, content: content).whole()
    }

    /// `startCanvas` as a source read per region: `previous` and `content` may be canvases on disk.
    public func startSource(for stage: PosterStage, previous: ImageRegionSource?, content: ImageRegionSource)
        -> ImageRegionSource
    {
        if stage.pass > 0, let previous { return previous }
        if let initial { return ResizedImage(initial, width: stage.width, height: stage.height, clamp: true) }
        guard let previous, stage.level > 0 else { return content }
        return ResizedImage(previous, width: stage.width, height: stage.height, clamp: true)
    }

    /// The temporal target at a stage's size (nil without one, or when its weight is 0).
    public func temporal(for stage: PosterStage) -> TemporalTarget? {
        guard settings.options.loss.temporalWeight > 0 else { return nil }
        return temporal?.resized(width: stage.width, height: stage.height)
    }

    /// The reference Grams that localise a tiled stage's tile targets (nil for the untiled first level, or
    /// when `localTargets` is off). The start canvas is read one tile at a time.
    public func stageReference(_ stage: PosterStage, start: ImageRegionSource, network: VGG19) throws -> GramTargets? {
        guard settings.localTargets, stage.level > 0 else { return nil }
        return try GramTargets.tileMean(
            network: network, canvas: start, plan: stage.plan, layers: settings.options.loss.styleLayers.map(\.name))
    }

    /// A stage's result: its tiles' cores (in tile order, whoever rendered them) blended over its start canvas.
    /// Blending in tile order makes the result the same however tiles were scheduled.
    public static func finish(_ stage: PosterStage, cores: [PlanarImage], start: PlanarImage) throws -> PlanarImage {
        precondition(cores.count == stage.plan.tiles.count, "every tile of the stage is needed")
        var out = start
        try finish(
            stage, start: start, stripRows: stage.height,
            core: { t, rows in
                try cores[t].region(x: 0, y: rows.lowerBound, width: cores[t].width, height: rows.count)
            }, emit: { _, strip in out = strip })
        return out
    }

    /// A stage's result, strip by strip, for canvases too big to hold: `core(t, rows)` reads rows `rows` of tile
    /// `t`'s core, and `emit(y, strip)` receives the blended rows from `y`, top to bottom. Each pixel is the same
    /// whatever `stripRows` is.
    public static func finish(
        _ stage: PosterStage, start: ImageRegionSource, stripRows: Int,
        core: (Int, Range<Int>) throws -> PlanarImage, emit: (Int, PlanarImage) throws -> Void
    ) throws {
        var y = 0
        while y < stage.height {
            let h = min(max(1, stripRows), stage.height - y)
            var blender = TileBlender(
                width: stage.width, height: stage.height, overlap: stage.plan.overlap,
                window: PixelRect(x: 0, y: y, width: stage.width, height: h))
            for (t, tile) in stage.plan.tiles.enumerated() where tile.core.y < y + h && tile.core.maxY > y {
                let rows = max(0, y - tile.core.y) ..< min(tile.core.height, y + h - tile.core.y)
                blender.add(try core(t, rows), rows: rows, at: tile.core)
            }
            try emit(y, blender.result(fallback: try start.region(x: 0, y: y, width: stage.width, height: h)))
            y += h
        }
    }

    /// Renders in this process, tiles one after another. Returns the RGB result.
    /// `targets`: this job's `gramTargets`, when already computed (the frames of a video share them).
    public func render(network baseNetwork: VGG19, targets: GramTargets? = nil, progress: (Progress) -> Void = { _ in })
        throws -> PlanarImage
    {
        let network =
            baseNetwork.pooling == settings.pooling ? baseNetwork : baseNetwork.with(pooling: settings.pooling)
        let regions = regionTargets(network: network)
        let targets = regions != nil ? .none : targets ?? gramTargets(network: network)  // regions replace them
        let stages = self.stages, levels = stages.last!.level + 1
        let total = totalIterations, work = totalWork
        var done = 0, workDone = 0.0
        let clock = ContinuousClock.now
        func seconds() -> Double { clock.elapsedSeconds }
        var canvas: PlanarImage?
        var content = self.content(for: stages[0])
        for stage in stages {
            if stage.pass == 0 && stage.level > 0 { content = self.content(for: stage) }
            let start = try startCanvas(for: stage, previous: canvas, content: content)
            let temporal = self.temporal(for: stage)
            var opts = settings.options
            opts.iterations = stage.iterations
            let renderer = TileRenderer(network: network, options: opts, targets: targets, regions: regions)
            let reference = regions == nil ? try stageReference(stage, start: start, network: network) : nil
            let regionReference = try stageRegionReference(stage, start: start, network: network)
            let guides = try guides(for: stage)?.whole()
            var cores: [PlanarImage] = []
            for tile in stage.plan.tiles {
                cores.append(
                    renderer.render(
                        stage.task(tile), content: content, canvas: start, reference: reference,
                        temporal: temporal, guides: guides, regionReference: regionReference
                    ) { p in
                        progress(
                            Progress(
                                level: stage.level, levels: levels, pass: stage.pass, tile: tile.index,
                                tiles: stage.plan.tiles.count, iterationsDone: done + p.iteration,
                                iterationsTotal: total,
                                workFraction: (workDone + Double(p.iteration * tile.render.area)) / work,
                                loss: p.loss, elapsed: seconds()))
                    })
                done += stage.iterations
                workDone += Double(stage.iterations * tile.render.area)
            }
            canvas = try Self.finish(stage, cores: cores, start: start)
        }
        return canvas!
    }
}
