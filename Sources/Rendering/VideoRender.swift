import Foundation
import Imaging
import JobModel
import StyleCore
import Video

/// A frame sequence rendered frame after frame, each started from the previous frame's result (optionally
/// warped by optical flow, with a temporal loss towards it), resumable from `OUTDIR/video.json`.
public struct VideoRender {
    /// How a frame starts.
    public enum Start: String, CaseIterable, Sendable {
        /// From the previous frame's result (the first frame from its content).
        case previous
        /// Every frame from its own content, coarse to fine.
        case independent
    }

    /// Every frame of the sequence, in order.
    public var frames: [URL]
    /// The frames to render: places in `frames`, from 1.
    public var numbers: [Int]
    public var outputDirectory: URL
    /// The render settings of every frame; `style` must be given, `content` and `output` are each frame's. Without
    /// a size, frames keep their own.
    public var description: JobDescription
    public var start = Start.previous
    /// Warp the previous result onto the frame (pyramidal Lucas–Kanade) before starting from it.
    public var flow = false
    /// Weight of the temporal loss towards the warped previous result where the flows agree (0: off).
    public var temporalWeight: Float = 0
    /// The earlier frames (how many back) the temporal loss holds a pixel to: each pixel to the nearest of them in
    /// which it is visible (`LongTermConsistency`, Ruder et al.'s long-term consistency); `[1]`: the previous only.
    public var temporalFrames = [1]
    /// Iterations of a frame started from the previous result, or in a later pass (default: half the output
    /// level's).
    public var frameIterations: Int?
    /// Passes over the sequence (`MultiPass`): the first forward, then backward and forward in turn.
    public var passes = 1
    /// δ of a later pass's start: how much of the warped neighbour it takes where the flows agree (0...1).
    public var passBlend: Float = 0.5
    /// How the frames of a pass wait for each other.
    public var schedule = Schedule.sequential

    /// How the frames of a pass wait for each other.
    public enum Schedule: String, CaseIterable, Sendable {
        /// Ruder et al.'s: each frame of a pass starts from its neighbour's result of the same pass, so one frame is
        /// in flight at a time (its tiles spread over a farm).
        case sequential
        /// Every frame of a pass starts from the results of the pass before only, so all of a pass's frames are in
        /// flight at once: the first pass renders each frame from its own content, a later one from the blend of
        /// its own and its neighbour's results of the pass before, held to its neighbours' (`VideoRender+Parallel`).
        case parallel
    }

    /// Where a video is: frames done, the fraction of the whole sequence, and a status line.
    public struct Progress: Sendable {
        public var framesDone: Int
        public var workFraction: Double?
        public var status: String
    }

    public init(frames: [URL], numbers: [Int], outputDirectory: URL, description: JobDescription) {
        self.frames = frames
        self.numbers = numbers
        self.outputDirectory = outputDirectory
        self.description = description
    }

    /// The output file of frame `number`.
    public func outputURL(_ number: Int) -> URL {
        outputDirectory.appendingPathComponent(String(format: "frame_%04d.png", number))
    }

    /// Renders the frames not yet done on `backend`, pass after pass; `shouldStop` is asked before each frame.
    /// Returns the mean flicker over the frame pairs of the last pass (nil with fewer than two frames).
    public func run(on backend: FrameBackend, shouldStop: () -> Bool, progress: @escaping (Progress) -> Void) throws
        -> (flicker: Double, pairs: Int)?
    {
        if schedule == .parallel { return try runParallel(on: backend, shouldStop: shouldStop, progress: progress) }
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        var manifest = try VideoManifest.open(directory: outputDirectory, settings: try manifestSettings())
        let base = try sizedDescription()
        var styleImages: [PlanarImage]?  // read with the first frame, reduced as its render uses them
        let clock = ContinuousClock.now, total = Double(numbers.count * passes)
        for pass in 1 ... passes {
            // The frames processed before this one in this pass, oldest first, as far back as the temporal loss
            // reaches.
            var history: [(content: PlanarImage, output: PlanarImage)] = []
            let reach = max(1, temporalFrames.max() ?? 1)
            func remember(_ content: PlanarImage, _ output: PlanarImage) {
                history = Array((history + [(content, output)]).suffix(reach))
            }
            for (k, number) in MultiPass.order(numbers, pass: pass).enumerated() {
                guard !shouldStop() else { throw RenderFailure.interrupted }
                let fitted = try fit(number, base: base, after: history.last?.content)
                let name = fitted.inputs.output.lastPathComponent, done = (pass - 1) * numbers.count + k
                let size = (fitted.content.width, fitted.content.height)
                // A finished frame's file of another size (replaced since) is rendered again.
                if let record = manifest.frames[name], record.pass ?? 1 >= pass,
                    let image = try? ImageIO.read(fitted.inputs.output).image, (image.width, image.height) == size
                {
                    remember(fitted.content, image)  // no motion estimated for a frame already done
                    progress(Progress(framesDone: done + 1, status: "\(name) already done"))
                    continue
                }
                // A later pass starts from the frame's own result of the pass before, read from its file.
                let own = pass > 1 ? try ImageIO.read(fitted.inputs.output).image : nil
                if let own, (own.width, own.height) != size {
                    throw RenderFailure(
                        "\(name) is not \(size.0)x\(size.1) any more: it was replaced since pass \(pass - 1)")
                }
                let styles =
                    try styleImages ?? LocalRender.styles(fitted.inputs, settings: fitted.settings).map(\.image)
                styleImages = styles
                let frame = prepare(fitted, styleImages: styles, history: history, own: own)
                let began = clock.elapsedSeconds
                try backend.render(frame, manifest: &manifest, directory: outputDirectory) { fraction, status in
                    progress(
                        Progress(
                            framesDone: done, workFraction: (Double(done) + fraction) / total,
                            status: (passes > 1 ? "pass \(pass)/\(passes) " : "") + name + " " + status))
                }
                let result = try ImageIO.read(frame.output).image
                let flicker = try record(
                    frame, number: number, pass: pass, result: result, previous: history.last?.output,
                    seconds: clock.elapsedSeconds - began, in: &manifest)
                progress(
                    Progress(
                        framesDone: done + 1, status: name + (flicker.map { String(format: " flicker %.2f", $0) } ?? "")
                    ))
                remember(frame.fittedContent, result)
            }
        }
        return meanFlicker(manifest)
    }

    /// The mean flicker over the frame pairs of the last pass (nil without one).
    func meanFlicker(_ manifest: VideoManifest) -> (flicker: Double, pairs: Int)? {
        let errors = numbers.compactMap { manifest.frames[outputURL($0).lastPathComponent]?.flicker }
        return errors.isEmpty ? nil : (errors.reduce(0, +) / Double(errors.count), errors.count)
    }

    /// Records a rendered frame in the manifest (saved) with its flicker against `previous`, the output of the
    /// frame processed before it; returns that flicker.
    func record(
        _ frame: VideoFrame, number: Int, pass: Int, result: PlanarImage, previous: PlanarImage?, seconds: Double,
        in manifest: inout VideoManifest
    ) throws -> Double? {
        var flicker: Double?
        if let previous, let motion = frame.motion {
            flicker = motion.flicker(current: result, previous: previous)
        }
        manifest.frames[frame.key(in: outputDirectory)] = .init(
            number: number, input: frames[number - 1].path, seconds: seconds, flicker: flicker,
            maskCoverage: frame.motion.map { ConsistencyMask.coverage($0.mask) }, pass: passes > 1 ? pass : nil)
        manifest.pending = nil
        try manifest.save(directory: outputDirectory)
        return flicker
    }

    /// A frame's files, settings, content (as decoded, cropped to the output's aspect when it must be) and
    /// content at the output size.
    struct FittedFrame {
        var inputs: JobInputs
        var settings: JobSettings
        var image: PlanarImage
        var content: PlanarImage
        /// Perceptual control's images: the one region mask, fitted to every frame as its content is.
        var control: ControlImages
    }

    /// Frame `number`, read and fitted to the output size; refused when it fits to another size than the frame
    /// processed `before` it (frames of another aspect fitted to a long side), since flows and warps need one size.
    func fit(_ number: Int, base: JobDescription, after before: PlanarImage?) throws -> FittedFrame {
        let frame = try fit(number, base: base)
        if let before, before.width != frame.content.width || before.height != frame.content.height {
            throw RenderFailure(
                "\(frames[number - 1].lastPathComponent) fits to \(frame.content.width)x\(frame.content.height), the "
                    + "frames before it to \(before.width)x\(before.height): give --width and --height so that every "
                    + "frame fits one size")
        }
        return frame
    }

    /// Frame `number`, read and fitted to the output size.
    func fit(_ number: Int, base: JobDescription) throws -> FittedFrame {
        let inputs = try base.inputs(content: frames[number - 1], output: outputURL(number))
        let file = try ImageIO.read(inputs.content)
        let settings = try base.settings(contentWidth: file.image.width, contentHeight: file.image.height)
        let image = try LocalRender.content(inputs.content, file: file, settings: settings)
        let (width, height) = (settings.poster.width, settings.poster.height)
        let fitted = settings.crop ? CenterCrop.toAspect(image, width: width, height: height) : image
        return FittedFrame(
            inputs: inputs, settings: settings, image: fitted,
            content: Resampler.resize(fitted, width: width, height: height),
            control: try LocalRender.controlImages(inputs, settings: settings, content: image))
    }

    /// A frame's job, started from the previous result when there is one (`history`: the frames processed before
    /// it in this pass, oldest first); in a later pass (`own`: the frame's result of the pass before), started from
    /// the blend of `MultiPass.start`.
    func prepare(
        _ frame: FittedFrame, styleImages: [PlanarImage], history: [(content: PlanarImage, output: PlanarImage)],
        own: PlanarImage? = nil
    ) -> VideoFrame {
        let previous = history.last
        // Between the input frames: what carries the previous result onto this frame, and the flicker metric.
        let motion = previous.map { FrameMotion.estimate(previous: $0.content, current: frame.content) }
        var job = PosterJob(
            content: frame.image,
            styles: Array(zip(styleImages, frame.inputs.styleWeights)).map { (image: $0.0, weight: $0.1) },
            settings: frame.settings.poster)
        job.controlImages = frame.control
        if start == .previous, previous != nil || own != nil {
            let warped = previous.map { flow ? motion?.warpPrevious($0.output) ?? $0.output : $0.output }
            switch (own, warped, motion) {
            case let (own?, warped?, motion?):
                job.initial = MultiPass.start(
                    own: own, warped: warped, mask: motion.mask, blend: passBlend)
            case let (own?, _, _): job.initial = own
            default: job.initial = warped
            }
            // A frame renders its output level only: an untiled one reads `options.iterations`, a tiled one `iterations`.
            let iterations = frameIterations ?? max(1, ((job.levels.last?.iterations ?? 1) + 1) / 2)
            (job.iterations, job.options.iterations) = ([iterations], iterations)
            if temporalWeight > 0, let motion, let warped {
                let target =
                    LongTermConsistency.target(
                        content: frame.content, history: history, back: temporalFrames,
                        previous: (warped, motion.mask)) ?? (warped, motion.mask)
                job.temporal = TemporalTarget(image: target.image, mask: target.mask)
                job.options.loss.temporalWeight = temporalWeight
            }
        }
        // As a farm's job gets them (`JobSpec.posterJob`): 16-bit PNGs read back and fitted, so both render one picture.
        let (w, h) = (job.settings.width, job.settings.height)
        job.initial = job.initial.map { TemporalTarget.fitted($0.quantized(bitDepth: 16), width: w, height: h) }
        job.temporal = job.temporal.map {
            TemporalTarget(
                image: TemporalTarget.fitted($0.image.quantized(bitDepth: 16), width: w, height: h),
                mask: TemporalTarget.binaryMask($0.mask.quantized(bitDepth: 16), width: w, height: h))
        }
        return VideoFrame(
            inputs: frame.inputs, settings: frame.settings, job: job, fittedContent: frame.content, motion: motion)
    }

    /// The description with the frames' own size unless it gives one.
    func sizedDescription() throws -> JobDescription {
        var d = description
        let s = d.size ?? .init()
        if s.pixels == nil, s.width == nil, s.height == nil, s.print == nil {
            let first = try ImageIO.read(frames[numbers[0] - 1]).image
            d.size = s
            d.size?.width = first.width
            d.size?.height = first.height
        }
        return d
    }

    /// Everything that decides the frames' pixels, recorded in the manifest so other settings are never mixed in.
    func manifestSettings() throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var render = description
        render.style = nil
        var settings: [String: String] = [
            "frames": frames.map(\.path).joined(separator: "\n"),
            "styles": (description.style ?? []).map { "\($0.image) \($0.weight ?? 1)" }.joined(separator: "\n"),
            "render": String(decoding: try encoder.encode(render), as: UTF8.self), "start": start.rawValue,
            "flow": "\(flow)",
            "temporal-weight": "\(temporalWeight)", "frame-iterations": frameIterations.map(String.init) ?? "default"
        ]
        // Recorded unless it is the one frame back of the manifests written before it existed.
        let back: [Int] = Set(temporalFrames).sorted()
        if temporalWeight > 0 && back != [1] {
            settings["temporal-frames"] = back.map(String.init).joined(separator: ",")
        }
        if passes > 1 { (settings["passes"], settings["pass-blend"]) = ("\(passes)", "\(passBlend)") }
        if schedule != .sequential { settings["schedule"] = schedule.rawValue }
        return settings
    }
}

extension JobDescription {
    /// The inputs with this content and output.
    func inputs(content: URL, output: URL) throws -> JobInputs {
        var d = self
        d.content = content.path
        d.output = output.path
        return try d.inputs()
    }
}
