import Foundation
import Imaging
import JobModel
import StyleCore

/// One image rendered in this process: untiled when its long side fits the coarse size, else coarse-to-fine in
/// tiled levels, tiles one after another. Everything that can be wrong with the inputs is found by `init`,
/// before any compute.
public struct LocalRender {
    public let inputs: JobInputs
    public let settings: JobSettings
    /// Save the best image so far every N iterations (untiled renders; 0: never).
    public let checkpointEvery: Int
    /// The content, fitted to the output's aspect.
    let content: PlanarImage
    let styles: [(image: PlanarImage, weight: Float)]
    /// The regions' planes and the styles' masks (perceptual control).
    let controlImages: ControlImages

    /// Where a render is: steps done of `steps`, a status line, seconds, and the fraction of the work done.
    public struct Progress: Sendable {
        public var done: Int
        public var status: String
        public var elapsed: Double
        public var workFraction: Double?
    }

    /// Reads the images and resolves the description; throws on a missing or corrupt file, a missing output
    /// directory or settings that do not apply.
    public init(_ description: JobDescription, checkpointEvery: Int = 0) throws {
        inputs = try description.inputs()
        let contentFile = try ImageIO.read(inputs.content)  // whole: the settings follow its size
        let directory = inputs.output.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory) else {
            throw JobProblem(field: "output", message: "the output directory \(directory) does not exist")
        }
        settings = try description.settings(
            contentWidth: contentFile.image.width, contentHeight: contentFile.image.height)
        let p = settings.poster
        let contentImage = try Self.content(inputs.content, file: contentFile, settings: settings)
        styles = try Self.styles(inputs, settings: settings)
        guard !settings.isTiled || (settings.initialisation == .content && checkpointEvery == 0) else {
            throw JobProblem(
                field: "initialisation",
                message: "an initialisation and checkpoints apply to untiled renders in this "
                    + "process (long side ≤ the coarse size); tiled levels start from the upsampled coarser level")
        }
        self.checkpointEvery = checkpointEvery
        content = settings.crop ? CenterCrop.toAspect(contentImage, width: p.width, height: p.height) : contentImage
        controlImages = try Self.controlImages(inputs, settings: settings, content: contentImage)
    }

    // Every input is reduced to what the render uses of it, as the farm reads them (`JobSpec.inputNeeds`), so both
    // compute on the same pixels: a still here, a video's frames (`VideoRender`) too.

    /// The content as the render uses it: `file` (read whole), or read again reduced when the render needs less.
    static func content(_ url: URL, file: LoadedImage, settings: JobSettings) throws -> PlanarImage {
        let need = settings.poster.contentNeed
        return need.factor(width: file.fileWidth, height: file.fileHeight) > 1
            ? try ImageIO.read(url, need: need).image : file.image
    }

    /// The styles as the render uses them, each read reduced to what its Gram targets need.
    static func styles(_ inputs: JobInputs, settings: JobSettings) throws -> [(image: PlanarImage, weight: Float)] {
        try zip(inputs.styles, inputs.styleWeights).enumerated().map { i, style in
            (image: try ImageIO.read(style.0, need: settings.poster.styleNeed(style: i)).image, weight: style.1)
        }
    }

    /// Reads the region mask (fitted as the content is, then one plane per region) and the styles' masks; a bad
    /// mask is a `JobProblem` naming its file.
    static func controlImages(_ inputs: JobInputs, settings: JobSettings, content: PlanarImage) throws -> ControlImages
    {
        var images = ControlImages()
        if let url = inputs.regionMask, let control = settings.poster.control {
            do {
                let mask = try RegionMap.fitted(
                    try ImageIO.read(url, need: settings.poster.contentNeed.nearestSampled).image,
                    contentWidth: content.width, contentHeight: content.height,
                    output: (settings.poster.width, settings.poster.height), crop: settings.crop)
                images.regions = try RegionMap.planes(mask, regions: control.regions)
            } catch let error as RegionMapError {
                throw JobProblem(field: "region-mask", message: "\(url.path) \(error)")
            }
        }
        images.styleMasks = try inputs.styleMasks.enumerated().map { i, url in
            try url.map { try ImageIO.read($0, need: settings.poster.styleNeed(style: i)).image }
        }
        return images
    }

    /// The poster job (tiled renders).
    var posterJob: PosterJob {
        var job = PosterJob(content: content, styles: styles, settings: settings.poster)
        job.controlImages = controlImages
        return job
    }

    /// Steps of the progress: iterations, over every tile of every level when tiled.
    public var steps: Int { settings.isTiled ? posterJob.totalIterations : settings.poster.options.iterations }

    /// What will be rendered, in a line.
    public var summary: String {
        let p = settings.poster
        guard settings.isTiled else {
            return "rendering \(p.width)x\(p.height), \(p.options.iterations) iterations, \(p.options.optimizer.name)"
        }
        let levels = p.levels.map { level in
            "\(level.width)x\(level.height)"
                + (level.passes.isEmpty
                    ? "" : " (\(level.passes.map { "\($0.columns)x\($0.rows)" }.joined(separator: "+")) tiles)")
        }
        return "rendering \(p.width)x\(p.height) in \(levels.count) levels " + levels.joined(separator: ", ")
    }

    /// The memory this render needs at its peak, in bytes: one optimisation's (the whole image untiled, else the
    /// largest tile) plus, tiled, the canvases a poster in one process holds whole (content, start, stage result,
    /// blend: float32 RGB each).
    public func peakBytes(network: VGG19) -> Int {
        let p = settings.poster, history = p.options.optimizer.lbfgsHistory, regions = p.control?.regions.count ?? 0
        guard settings.isTiled else {
            return ResourceEstimate.peakBytes(
                network: network, width: p.width, height: p.height, lbfgsHistory: history, regions: regions)
        }
        let tile = p.levels.flatMap(\.passes).map(\.largestRender).max { $0.width * $0.height < $1.width * $1.height }
        let optimisation =
            tile.map {
                ResourceEstimate.peakBytes(
                    network: network, width: $0.width, height: $0.height, lbfgsHistory: history, regions: regions)
            } ?? 0
        return optimisation + 4 * (12 + regions) * p.width * p.height  // and the level's region guides, held whole
    }

    /// Throws, before any compute, when the render needs more memory than `available` bytes, saying how much and
    /// what does fit: an embedded or a real farm, which keeps the canvas on disk and tiles on workers.
    public func checkFits(network: VGG19, available: Int) throws {
        let needed = peakBytes(network: network)
        guard needed > available else { return }
        let gib = { (bytes: Int) in String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        throw RenderFailure(
            "a \(settings.poster.width)x\(settings.poster.height) render in this process needs about \(gib(needed)) of memory "
                + "and this machine has \(gib(available)); render it with --local-farm N (canvases on disk, tiles in worker processes) "
                + "or submit it to a farm (`stylefarm plan` shows what each worker needs)")
    }

    /// Renders and writes the output; returns a line saying what was written.
    public func run(network: VGG19, progress: (Progress) -> Void) throws -> String {
        let p = settings.poster
        guard settings.isTiled else { return try renderUntiled(network: network, progress: progress) }
        var result = try posterJob.render(network: network) { s in
            progress(
                Progress(
                    done: s.iterationsDone,
                    status: "level \(s.level + 1)/\(s.levels) pass \(s.pass + 1) tile \(s.tile + 1)/\(s.tiles) "
                        + String(format: "loss %.4g", s.loss), elapsed: s.elapsed, workFraction: s.workFraction))
        }
        if settings.preserveColors {
            result = ColorTransfer.preserveColors(
                styled: result, original: Resampler.resize(content, width: p.width, height: p.height)
            ).clamped()
        }
        try ImageIO.write(result, to: inputs.output, bitDepth: settings.bitDepth, dpi: settings.dpi)
        return "wrote \(inputs.output.path) (\(p.width)x\(p.height))"
    }

    func renderUntiled(network: VGG19, progress: (Progress) -> Void) throws -> String {
        let p = settings.poster
        var job = StyleJob(content: content, styles: styles, size: max(p.width, p.height))
        job.exactSize = (p.width, p.height)
        job.styleScale = p.styleScale
        job.seed = settings.seed
        job.pooling = p.pooling
        job.preserveColors = settings.preserveColors
        job.options = p.options
        (job.control, job.controlImages) = (p.control, controlImages)
        switch settings.initialisation {
        case .content: job.initialisation = .content
        case .noise: job.initialisation = .noise
        case let .image(path, noise):
            job.initialisation = .image(try ImageIO.read(URL(fileURLWithPath: path)).image, noise: noise)
        }
        let (output, bitDepth, dpi) = (inputs.output, settings.bitDepth, settings.dpi)
        let result = job.render(
            network: network, checkpointEvery: checkpointEvery,
            checkpoint: { iteration, image in
                try? ImageIO.write(
                    image, to: Self.checkpointURL(output, iteration: iteration), bitDepth: bitDepth, dpi: dpi)
            }
        ) { s in
            progress(Progress(done: s.iteration, status: String(format: "loss %.4g", s.loss), elapsed: s.elapsed))
        }
        try ImageIO.write(result.image, to: output, bitDepth: bitDepth, dpi: dpi)
        return
            "wrote \(output.path) (\(p.width)x\(p.height), best loss \(String(format: "%.6g", result.loss)), \(result.iterations) iterations)"
    }

    /// `out.png` → `out.iter0100.png`.
    public static func checkpointURL(_ url: URL, iteration: Int) -> URL {
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(
            String(format: "%@.iter%04d.%@", stem, iteration, ext))
    }
}

extension OptimizerKind {
    /// `lbfgs` or `adam`.
    public var name: String {
        switch self {
        case .lbfgs: "lbfgs"
        case .adam: "adam"
        }
    }
}
