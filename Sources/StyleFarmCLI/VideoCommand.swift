import ArgumentParser
import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Imaging
import StyleCore
import VGGWeights
import Video

/// `stylefarm video`: a frame sequence, each frame started from the previous frame's result.
struct VideoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "Stylise a frame sequence; each frame starts from the previous frame's result (optionally warped by optical flow).",
        discussion: """
            FRAMES is a directory of images, a numbered pattern (clip/frame_%04d.png) or a glob (clip/*.png). Every
            `render` option applies to each frame (size, tiling, loss weights, optimizer, …); the default size is the
            frames' own. Frames go to OUTDIR/frame_0001.png … (numbered by their place in FRAMES), and OUTDIR/video.json
            records what is done: run the same command again to resume after an interruption.
              stylefarm video clip/ --style wave.jpg -o out/                        # previous-frame start
              stylefarm video clip/ --style wave.jpg -o out/ --flow --temporal-weight 0.02 --video out.mp4
              stylefarm video clip/ --style wave.jpg -o out/ --local-farm 2         # each frame's tiles on 2 workers
            The first frame (or every frame, with --start independent) is rendered coarse-to-fine from its content; a
            frame started from the previous result is rendered at the output size only, with --frame-iterations.
            See Docs/video.md.
            """)

    @Option(name: .customLong("style"), help: "A style image (repeat for several; --style-blend weighs them).")
    var styles: [String] = []
    @Option(name: .shortAndLong, help: "Output directory (created if missing).")
    var output: String
    @Option(help: "How a frame starts: previous (the previous frame's result) or independent (its own content).")
    var start = "previous"
    @Flag(help: "Warp the previous result onto the frame with optical flow (pyramidal Lucas–Kanade) before starting from it.")
    var flow = false
    @Option(help: "Weight of the temporal loss towards the warped previous result where the flows agree (needs --flow; 0: off).")
    var temporalWeight: Float = 0
    @Option(help: "Iterations of a frame started from the previous result (default: half the output level's).")
    var frameIterations: Int?
    @Option(help: "First frame to render (1-based place in FRAMES).") var firstFrame = 1
    @Option(help: "Number of frames to render (default: the rest).") var frameCount: Int?
    @Option(help: "Also assemble the frames into this video file with ffmpeg (.mp4, .mkv, .mov, .webm or .gif).")
    var video: String?
    @Option(help: "Frame rate of the assembled video.") var fps = 25.0
    @Option(help: "Render on an embedded farm of N worker processes on loopback (0: in this process).") var localFarm = 0
    @Option(help: "Render on the farm whose coordinator listens here (with --server-key and --curve-secret, or --insecure).")
    var connect: String?
    @OptionGroup var security: ClientSecurityOptions
    @OptionGroup var compute: ComputeOptions
    @Argument(parsing: .allUnrecognized, help: "FRAMES, then any `render` option (see `stylefarm help render`).")
    var arguments: [String] = []

    func validate() throws {
        guard ["previous", "independent"].contains(start) else { throw ValidationError("--start must be previous or independent") }
        guard temporalWeight >= 0, temporalWeight.isFinite else { throw ValidationError("--temporal-weight must be non-negative") }
        guard temporalWeight == 0 || (flow && start == "previous") else {
            throw ValidationError("--temporal-weight needs --flow (the temporal loss pulls towards the flow-warped previous frame)")
        }
        guard !flow || start == "previous" else { throw ValidationError("--flow warps the previous result: it needs --start previous") }
        guard (frameIterations ?? 1) >= 1, firstFrame >= 1, (frameCount ?? 1) >= 1 else {
            throw ValidationError("--frame-iterations, --first-frame and --frame-count must be at least 1")
        }
        guard fps > 0, fps <= 1000 else { throw ValidationError("--fps must be in (0, 1000]") }
        guard !styles.isEmpty else { throw ValidationError("give at least one --style image") }
        guard (0 ... 64).contains(localFarm), localFarm == 0 || connect == nil else {
            throw ValidationError("--local-farm must be 0...64, and not combined with --connect")
        }
        if let video { _ = try Self.ffmpegCodec(for: video) }
    }

    func run() throws {
        guard let framesSpec = arguments.first, !framesSpec.hasPrefix("-") else {
            throw ValidationError("give FRAMES (a directory, frame_%04d.png or a glob) as the first argument")
        }
        let rest = Array(arguments.dropFirst())
        let all = try FrameSequence(framesSpec).files
        guard firstFrame <= all.count else { throw ValidationError("--first-frame \(firstFrame): FRAMES has \(all.count) frames") }
        let numbers = Array(firstFrame ... min(all.count, firstFrame - 1 + (frameCount ?? all.count)))
        let ffmpeg = try video.map { _ in try Self.findFFmpeg() }
        let outDir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)

        // The frames' own size unless a size option is given.
        let sizeGiven = rest.contains { a in ["--size", "--width", "--height", "--print"].contains { a == $0 || a.hasPrefix($0 + "=") } }
        let firstImage = try ImageIO.read(all[numbers[0] - 1]).image
        let sizeArguments = sizeGiven ? [] : ["--width", "\(firstImage.width)", "--height", "\(firstImage.height)"]
        let renderOptions = sizeArguments + rest
        func frameArguments(_ number: Int) throws -> RenderArguments {
            try RenderArguments.parse([all[number - 1].path] + styles + ["-o", Self.outputURL(outDir, number).path] + renderOptions)
        }
        let template = try frameArguments(numbers[0])
        let blend = try template.styleBlend.map { try RenderArguments.floats($0, count: styles.count, name: "--style-blend") }
            ?? styles.map { _ in 1 }
        let styleInputs = try zip(styles, blend).map { (image: try ImageIO.read(URL(fileURLWithPath: $0.0)).image, weight: $0.1) }

        var manifest = try VideoManifest.open(directory: outDir, settings: [
            "frames": all.map(\.path).joined(separator: "\n"), "styles": styles.joined(separator: "\n"),
            "render": renderOptions.joined(separator: " "), "start": start, "flow": "\(flow)", "temporal-weight": "\(temporalWeight)",
            "frame-iterations": frameIterations.map(String.init) ?? "default",
        ])
        let backend = try makeBackend(outDir: outDir, pooling: template.poolingKind)
        defer { backend.close() }
        printError("video: \(numbers.count) frames of \(all.count) from \(framesSpec), start \(start)"
            + (flow ? ", optical flow" : "") + (temporalWeight > 0 ? ", temporal weight \(temporalWeight)" : "") + ", \(backend.name)")
        stopOnSignals()
        let bar = ProgressBar(total: numbers.count, label: "video")
        let clock = ContinuousClock.now
        func elapsed() -> Double { clock.elapsedSeconds }
        var previous: (content: PlanarImage, output: PlanarImage)?
        for (k, number) in numbers.enumerated() {
            guard !stopRequested else { throw ValidationError("interrupted; run the same command again to resume") }
            let outURL = Self.outputURL(outDir, number), name = outURL.lastPathComponent
            let args = try frameArguments(number)
            let contentImage = try ImageIO.read(all[number - 1]).image
            let target = try args.outputSize(content: contentImage)
            let fitted = target.crop ? CenterCrop.toAspect(contentImage, width: target.width, height: target.height) : contentImage
            let content = Resampler.resize(fitted, width: target.width, height: target.height)
            if manifest.frames[name] != nil, let done = try? ImageIO.read(outURL).image {
                previous = (content, done)
                bar.update(k + 1, status: "\(name) already done", elapsed: elapsed())
                continue
            }
            // Between the input frames: what carries the previous result onto this frame, and the flicker metric.
            let motion = previous.map { FrameMotion.estimate(previous: $0.content, current: content) }
            var job = try args.posterJob(content: fitted, styles: styleInputs, width: target.width, height: target.height)
            if start == "previous", let previous {
                let startImage = flow ? motion!.warpPrevious(previous.output) : previous.output
                job.initial = startImage
                job.iterations = [frameIterations ?? max(1, (job.levels.last!.iterations + 1) / 2)]
                if temporalWeight > 0 {
                    job.temporal = TemporalTarget(image: startImage, mask: motion!.mask)
                    job.options.loss.temporalWeight = temporalWeight
                }
            }
            let began = elapsed()
            let frame = VideoFrame(name: name, content: all[number - 1], styles: styles.map { URL(fileURLWithPath: $0) },
                                   output: outURL, job: job, crop: target.crop,
                                   dpi: target.dpi, preserveColors: args.preserveColors, bitDepth: args.bitDepth)
            let count = Double(numbers.count)
            try backend.render(frame, manifest: &manifest, directory: outDir) { (fraction: Double, status: String) in
                let work: Double = (Double(k) + fraction) / count
                bar.update(k, status: name + " " + status, elapsed: elapsed(), work: work)
            }
            let result = try ImageIO.read(outURL).image
            var flicker: Double?
            if let previous, let motion {
                flicker = Flicker.temporalError(current: result, warpedPrevious: motion.warpPrevious(previous.output), mask: motion.mask)
            }
            manifest.frames[name] = .init(number: number, input: all[number - 1].path, seconds: elapsed() - began, flicker: flicker,
                                          maskCoverage: motion.map { ConsistencyMask.coverage($0.mask) })
            manifest.pending = nil
            try manifest.save(directory: outDir)
            bar.update(k + 1, status: name + (flicker.map { String(format: " flicker %.2f", $0) } ?? ""), elapsed: elapsed())
            previous = (content, result)
        }
        bar.finish()
        let errors = numbers.compactMap { manifest.frames[Self.outputURL(outDir, $0).lastPathComponent]?.flicker }
        if !errors.isEmpty {
            print(String(format: "flicker: mean %.3f (8-bit levels, masked, %d frame pairs)", errors.reduce(0, +) / Double(errors.count), errors.count))
        }
        if let video, let ffmpeg { try assemble(ffmpeg: ffmpeg, outDir: outDir, first: numbers[0], to: URL(fileURLWithPath: video)) }
        backend.finished(outDir: outDir)
        print("wrote \(numbers.count) frames to \(outDir.path)")
    }

    static func outputURL(_ dir: URL, _ number: Int) -> URL {
        dir.appendingPathComponent(String(format: "frame_%04d.png", number))
    }

    func makeBackend(outDir: URL, pooling: Pool2x2.Kind) throws -> FrameBackend {
        if let connect {
            return FarmFrames(client: FarmClient(endpoint: connect, security: try security.resolve()), farm: nil, name: "farm at \(connect)")
        }
        if localFarm > 0 {
            // The farm's state lives beside the frames, so a restarted video resumes the frame in flight from the
            // coordinator's journal; it is removed once every frame is done.
            let state = outDir.appendingPathComponent(".farm")
            let farm = try LocalFarm(stateDirectory: state, weights: WeightsLocation.resolve(explicit: compute.weights),
                                     workers: localFarm, threadsPerWorker: max(1, compute.threads / localFarm))
            return FarmFrames(client: FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity), farm: farm,
                              name: "embedded farm of \(localFarm) workers")
        }
        return InProcessFrames(network: try compute.loadNetwork(pooling: pooling), threads: compute.threads)
    }

    // MARK: ffmpeg

    static func ffmpegCodec(for path: String) throws -> [String] {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "mp4", "mkv", "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        case "webm": ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "30", "-b:v", "0"]
        case "gif": ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse"]
        default: throw ValidationError("--video \(path): use .mp4, .mkv, .mov, .webm or .gif")
        }
    }

    static func findFFmpeg() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/ffmpeg") { return "\(dir)/ffmpeg" }
        throw ValidationError("--video needs ffmpeg on the PATH (apt-get install ffmpeg); without --video the frames are written alone")
    }

    func assemble(ffmpeg: String, outDir: URL, first: Int, to url: URL) throws {
        let args = ["-y", "-loglevel", "error", "-framerate", String(fps), "-start_number", "\(first)",
                    "-i", outDir.appendingPathComponent("frame_%04d.png").path] + (try Self.ffmpegCodec(for: url.path)) + [url.path]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ffmpeg)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ValidationError("ffmpeg failed (status \(p.terminationStatus)): \(ffmpeg) \(args.joined(separator: " "))")
        }
        print("wrote \(url.path) (ffmpeg, \(fps) fps)")
    }
}

/// One frame to render: its poster job (with the previous frame's start and temporal target when it has them)
/// and where the result goes.
struct VideoFrame {
    var name: String
    var content: URL
    var styles: [URL]
    var output: URL
    var job: PosterJob
    var crop: Bool
    var dpi: Double?
    var preserveColors: Bool
    var bitDepth: Int
}

/// Where frames are rendered: in this process, or on a farm (each frame's tiles spread over its workers).
protocol FrameBackend {
    var name: String { get }
    /// Renders the frame and writes `frame.output` (atomically); `progress` gets the frame's fraction done.
    func render(_ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void) throws
    /// Every frame is done: stop, and remove what only a resume would need.
    func finished(outDir: URL)
    /// Stop (idempotent).
    func close()
}

/// Frames rendered one after another in this process.
final class InProcessFrames: FrameBackend {
    let network: VGG19
    let threads: Int
    /// The style's Gram targets, computed for the first frame and shared by the rest.
    var targets: GramTargets?
    var name: String { "in this process, \(threads) threads, OpenBLAS \(BLAS.coreName)" }

    init(network: VGG19, threads: Int) {
        self.network = network
        self.threads = threads
    }

    func render(_ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void) throws {
        let net = network.pooling == frame.job.pooling ? network : network.with(pooling: frame.job.pooling)
        let targets = self.targets ?? frame.job.gramTargets(network: net)
        self.targets = targets
        var result = frame.job.render(network: network, targets: targets) { p in
            progress(p.workFraction, String(format: "level %d/%d tile %d/%d loss %.4g", p.level + 1, p.levels, p.tile + 1, p.tiles, p.loss))
        }
        if frame.preserveColors {
            result = ColorTransfer.preserveColors(styled: result, original: frame.job.content(for: frame.job.stages.last!)).clamped()
        }
        try ImageIO.write(result, to: frame.output, bitDepth: frame.bitDepth, dpi: frame.dpi)
    }

    func finished(outDir: URL) {}
    func close() {}
}

/// Frames submitted one at a time to a coordinator: the frames are sequential, each frame's tiles go to all
/// the farm's workers.
final class FarmFrames: FrameBackend {
    let client: FarmClient
    let farm: LocalFarm?
    let name: String

    init(client: FarmClient, farm: LocalFarm?, name: String) {
        self.client = client
        self.farm = farm
        self.name = name
    }

    func render(_ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void) throws {
        let id: String
        if let pending = manifest.pending, pending.output == frame.name, pending.endpoint == client.endpoint || farm != nil,
           let s = try? client.status(job: pending.job).jobs.first, s.state == .running || s.state == .queued || s.state == .done {
            id = pending.job  // submitted before a restart: wait for it rather than render it twice
        } else {
            id = try submit(frame, directory: directory)
            manifest.pending = .init(output: frame.name, job: id, endpoint: client.endpoint)
            try manifest.save(directory: directory)
        }
        try FarmWait.untilDone(client: client, job: id, output: frame.output, localFarm: farm) { s in
            progress(s.workFraction, "job \(id) stage \(min(s.stage + 1, s.stages))/\(s.stages) tiles \(s.tilesDone)/\(s.tilesTotal)")
        }
    }

    func submit(_ frame: VideoFrame, directory: URL) throws -> String {
        let job = frame.job
        var spec = JobSpec(name: "\(directory.lastPathComponent)/\(frame.name)", poster: job.settings, styleWeights: job.styles.map(\.weight),
                           crop: frame.crop, preserveColors: frame.preserveColors, bitDepth: frame.bitDepth, dpi: frame.dpi)
        var payload = try ([frame.content] + frame.styles).map { [UInt8](try Data(contentsOf: $0)) }
        // The frame's start image and mask travel as 16-bit PNGs, encoded in memory.
        if let initial = job.initial {
            spec.frame = .init(temporalMask: job.temporal != nil)
            payload.append(try ImageIO.encodePNG(initial, bitDepth: 16))
            if let temporal = job.temporal { payload.append(try ImageIO.encodePNG(temporal.mask, bitDepth: 16)) }
        }
        try spec.validate()
        return try client.submit(spec, inputs: payload)
    }

    func finished(outDir: URL) {
        guard let farm else { return }
        farm.shutdown()
        try? FileManager.default.removeItem(at: outDir.appendingPathComponent(".farm"))
    }

    func close() { farm?.shutdown() }
}
