import ArgumentParser
import BLASKernel
import FarmClient
import FarmCoordinator
import Foundation
import JobModel
import Rendering
import StyleCore
import VGGWeights
import Video

/// `stylefarm video`: a frame sequence, each frame started from the previous frame's result.
struct VideoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract:
            "Stylise a frame sequence; each frame starts from the previous frame's result (optionally warped by optical flow).",
        discussion: """
            FRAMES is a directory of images, a numbered pattern (clip/frame_%04d.png) or a glob (clip/*.png). Every
            `render` option applies to each frame (size, tiling, loss weights, optimizer, …); the default size is the
            frames' own. Frames go to OUTDIR/frame_0001.png … (numbered by their place in FRAMES), and OUTDIR/video.json
            records what is done: run the same command again to resume after an interruption.
              stylefarm video clip/ --style wave.jpg -o out/                        # previous-frame start
              stylefarm video clip/ --style wave.jpg -o out/ --flow --temporal-weight 0.02 --video out.mp4
              stylefarm video clip/ --style wave.jpg -o out/ --local-farm 2         # each frame's tiles on 2 workers
              stylefarm video clip/ --measure out/                                  # measure any tool's frames
            The first frame (or every frame, with --start independent) is rendered coarse-to-fine from its content; a
            frame started from the previous result is rendered at the output size only, with --frame-iterations.
            See Docs/video.md.
            """)

    @Argument(help: "The frames: a directory, a numbered pattern (frame_%04d.png) or a glob.") var frames: String
    @Option(name: .customLong("style"), help: "A style image (repeat for several; --style-blend weighs them).")
    var styles: [String] = []
    @Option(name: .shortAndLong, help: "Output directory (created if missing).")
    var output: String?
    @Option(
        help: ArgumentHelp(
            "Measure these stylised frames against FRAMES instead of rendering: the flicker and the warping error.",
            discussion:
                "A directory, pattern or glob of any tool's frames, in FRAMES' order (from --first-frame). Prints each pair's flicker (the renderer's flow and mask, 8-bit levels) and warping error (Lai et al. 2018 on an independent Farnebäck flow, samples 0...1).",
            valueName: "outputs"))
    var measure: String?
    @Option(help: "How a frame starts: previous (the previous frame's result) or independent (its own content).")
    var start = VideoRender.Start.previous
    @Flag(
        help:
            "Warp the previous result onto the frame with optical flow (pyramidal Lucas–Kanade) before starting from it."
    )
    var flow = false
    @Option(
        help:
            "Weight of the temporal loss towards the warped previous result where the flows agree (needs --flow; 0: off)."
    )
    var temporalWeight: Float = 0
    @Option(
        help: ArgumentHelp(
            "Earlier frames the temporal loss holds each pixel to, frames back (long-term consistency).",
            discussion:
                "Each pixel is held to the nearest of them in which the flows show it (Ruder et al. 2016); 1 holds it to the previous frame only."
        ))
    var temporalFrames = "1,2,4"
    @Option(
        help:
            "Iterations of a frame started from the previous result or in a later pass (default: half the output level's)."
    )
    var frameIterations: Int?
    @Option(help: "Passes over the sequence: the first forward, then backward and forward in turn (multi-pass).")
    var passes = 1
    @Option(
        help: "How much of the warped neighbour a frame of a later pass starts from, where the flows agree (0...1).")
    var passBlend: Float = 0.5
    @Option(
        help:
            "How the frames of a pass wait: sequential (each for its neighbour in the pass) or parallel (each starts from the pass before's results only: the first pass renders every frame from its content, and a farm runs all of a pass's frames at once)."
    )
    var schedule = VideoRender.Schedule.sequential
    @Option(help: "First frame to render (1-based place in FRAMES).") var firstFrame = 1
    @Option(help: "Number of frames to render (default: the rest).") var frameCount: Int?
    @Option(help: "Also assemble the frames into this video file with ffmpeg (.mp4, .mkv, .mov, .webm or .gif).")
    var video: String?
    @Option(help: "Frame rate of the assembled video.") var fps = 25.0
    @Option(help: "Render on an embedded farm of N worker processes on loopback (0: in this process).") var localFarm =
        0
    @Option(
        help: "Render on the farm whose coordinator listens here (with --server-key and --curve-secret, or --insecure)."
    )
    var connect: String?
    @OptionGroup var security: ClientSecurityOptions
    @OptionGroup(title: "Render settings of every frame") var job: JobOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard temporalWeight >= 0, temporalWeight.isFinite else {
            throw ValidationError("--temporal-weight must be non-negative")
        }
        guard temporalWeight == 0 || (flow && start == .previous) else {
            throw ValidationError(
                "--temporal-weight needs --flow (the temporal loss pulls towards the flow-warped previous frame)")
        }
        guard !flow || start == .previous else {
            throw ValidationError("--flow warps the previous result: it needs --start previous")
        }
        guard (1 ... 16).contains(passes), passBlend >= 0, passBlend <= 1 else {
            throw ValidationError("--passes must be 1...16 and --pass-blend in 0...1")
        }
        guard passes == 1 || start == .previous else {
            throw ValidationError(
                "--passes above 1 refines frames started from their neighbours: it needs --start previous")
        }
        guard Self.framesBack(temporalFrames) != nil else {
            throw ValidationError("--temporal-frames must list frames back, each 1...64 (for example 1,2,4)")
        }
        guard (frameIterations ?? 1) >= 1, firstFrame >= 1, (frameCount ?? 1) >= 1 else {
            throw ValidationError("--frame-iterations, --first-frame and --frame-count must be at least 1")
        }
        guard fps > 0, fps <= 1000 else { throw ValidationError("--fps must be in (0, 1000]") }
        guard measure == nil else { return }
        guard output != nil else { throw ValidationError("give an output directory (-o) or --measure") }
        guard !styles.isEmpty else { throw ValidationError("give at least one --style image") }
        guard (0 ... 64).contains(localFarm), localFarm == 0 || connect == nil else {
            throw ValidationError("--local-farm must be 0...64, and not combined with --connect")
        }
        if let video { _ = try VideoAssembly.codec(for: video) }
    }

    func run() throws {
        let all = try FrameSequence(frames).files
        guard firstFrame <= all.count else {
            throw ValidationError("--first-frame \(firstFrame): FRAMES has \(all.count) frames")
        }
        if let measure { return try runMeasure(measure, frames: Array(all[(firstFrame - 1)...])) }
        guard let output else { return }
        let ffmpeg = try video.map { _ in try VideoAssembly.findFFmpeg() }
        var render = VideoRender(
            frames: all, numbers: Array(firstFrame ... min(all.count, firstFrame - 1 + (frameCount ?? all.count))),
            outputDirectory: URL(fileURLWithPath: output), description: try job.description(styles: styles))
        (render.start, render.flow, render.temporalWeight, render.frameIterations) = (
            start, flow, temporalWeight, frameIterations
        )
        render.temporalFrames = Self.framesBack(temporalFrames) ?? [1]
        (render.passes, render.passBlend, render.schedule) = (passes, passBlend, schedule)
        let backend = try makeBackend(outDir: render.outputDirectory, pooling: job.pooling ?? .max)
        defer { backend.close() }
        var said = ["video: \(render.numbers.count) frames of \(all.count) from \(frames), start \(start)"]
        if flow { said.append("optical flow") }
        if temporalWeight > 0 { said += ["temporal weight \(temporalWeight)", "frames back \(temporalFrames)"] }
        if passes > 1 || schedule != .sequential { said.append("\(passes) passes, \(schedule) schedule") }
        said.append(backend.name)
        if backend is InProcessFrames { said.append(KernelSelection.inUse.line) }
        printError(said.joined(separator: ", "))
        stopOnSignals()
        let bar = ProgressBar(total: render.numbers.count * render.passes, label: "video")
        let clock = ContinuousClock.now
        let flicker: (flicker: Double, pairs: Int)?
        do {
            flicker = try render.run(on: backend, shouldStop: { stopRequested }) { p in
                bar.update(p.framesDone, status: p.status, elapsed: clock.elapsedSeconds, work: p.workFraction)
            }
        } catch let problem as JobProblem { throw JobOptions.explain(problem) }
        bar.finish()
        if let flicker {
            print(
                String(
                    format: "flicker: mean %.3f (8-bit levels, masked, %d frame pairs)", flicker.flicker, flicker.pairs)
            )
        }
        if let video, let ffmpeg {
            try VideoAssembly.assemble(
                ffmpeg: ffmpeg, directory: render.outputDirectory, first: render.numbers[0], fps: fps,
                to: URL(fileURLWithPath: video))
            print("wrote \(video) (ffmpeg, \(fps) fps)")
        }
        backend.finished(outDir: render.outputDirectory)
        print("wrote \(render.numbers.count) frames to \(output)")
    }

    func makeBackend(outDir: URL, pooling: Pool2x2.Kind) throws -> FrameBackend {
        if let connect {
            return FarmFrames(
                client: FarmClient(endpoint: connect, security: try security.resolve()), farm: nil,
                name: "farm at \(connect)")
        }
        if localFarm > 0 {
            // The farm's state lives beside the frames, so a restarted video resumes the frame in flight from the
            // coordinator's journal; it is removed once every frame is done.
            let state = outDir.appendingPathComponent(".farm")
            let farm = try LocalFarm(
                stateDirectory: state, weights: WeightsLocation.resolve(explicit: compute.weights),
                workers: localFarm, threadsPerWorker: max(1, compute.threads / localFarm))
            return FarmFrames(
                client: FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity), farm: farm,
                name: "embedded farm of \(localFarm) workers")
        }
        return InProcessFrames(network: try compute.loadNetwork(pooling: pooling), threads: compute.threads)
    }
}

extension VideoCommand {
    /// "1,2,4" as frames back; nil unless every entry is a whole number in 1...64.
    static func framesBack(_ text: String) -> [Int]? {
        let back = text.split(separator: ",", omittingEmptySubsequences: false).map {
            // safe-int: a failable parse of text
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard !back.isEmpty, back.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 64 }) else { return nil }
        return back.compactMap { $0 }
    }
}

extension VideoRender.Start: ExpressibleByArgument {}
extension VideoRender.Schedule: ExpressibleByArgument {}
