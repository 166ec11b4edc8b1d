import Foundation
import Imaging
import Video

/// The parallel schedule (`VideoRender.Schedule.parallel`): every frame of a pass starts from the results of the pass
/// before only, so a pass is one batch of independent frames, all in flight at once on a farm. Pass 1 renders each
/// frame from its own content; pass K > 1 starts a frame from `MultiPass.start`'s blend of its own result of pass
/// K − 1 and its neighbour's (in pass K's direction), with the temporal loss towards its neighbours' results of pass
/// K − 1 (long-term as in the sequential schedule). Passes before the last write into `OUTDIR/.pass-K/`, so the pass
/// being written never overwrites what its frames start from; the last writes into OUTDIR.
extension VideoRender {
    /// Where pass `pass`'s frames go.
    func passDirectory(_ pass: Int) -> URL {
        pass == passes ? outputDirectory : outputDirectory.appendingPathComponent(".pass-\(pass)")
    }

    func runParallel(
        on backend: FrameBackend, shouldStop: () -> Bool, progress: @escaping (Progress) -> Void
    ) throws -> (flicker: Double, pairs: Int)? {
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        var manifest = try VideoManifest.open(directory: outputDirectory, settings: try manifestSettings())
        let base = try sizedDescription()
        var styles: [PlanarImage]?
        for pass in 1 ... passes {
            guard !shouldStop() else { throw RenderFailure("interrupted; run the same command again to resume") }
            try FileManager.default.createDirectory(at: passDirectory(pass), withIntermediateDirectories: true)
            var batch: [(number: Int, frame: VideoFrame)] = [], finished = 0
            // The frames before this one in the pass's direction, with their results of the pass before.
            var history: [(content: PlanarImage, output: PlanarImage)] = []
            var first: PlanarImage?
            for number in MultiPass.order(numbers, pass: pass) {
                let fitted = try fit(number, base: base, after: first)
                first = first ?? fitted.content
                let own = pass > 1 ? try result(number, pass: pass - 1, like: fitted.content) : nil
                defer {
                    if let own {
                        history = Array((history + [(fitted.content, own)]).suffix((temporalFrames + [1]).max() ?? 1))
                    }
                }
                if manifest.frames[key(number, pass: pass)] != nil,
                    (try? result(number, pass: pass, like: fitted.content)) != nil
                {
                    finished += 1
                    continue
                }
                styles = try styles ?? LocalRender.styles(fitted.inputs, settings: fitted.settings).map(\.image)
                var frame = prepare(fitted, styleImages: styles ?? [], history: history, own: own)
                frame.inputs.output = outputDirectory.appendingPathComponent(key(number, pass: pass))
                batch.append((number, frame))
            }
            let done = (pass - 1) * numbers.count + finished, total = Double(numbers.count * passes)
            progress(Progress(framesDone: done, status: "pass \(pass)/\(passes): \(finished) frames already done"))
            var began = ContinuousClock.now
            try backend.render(
                batch: batch.map(\.frame), manifest: &manifest, directory: outputDirectory, shouldStop: shouldStop,
                finished: { i, manifest in
                    // Recorded as it is written (its flicker once the pass is done), so a stop loses no frame.
                    try record(
                        batch[i].frame, number: batch[i].number, pass: pass,
                        result: try ImageIO.read(batch[i].frame.output).image, previous: nil,
                        seconds: began.elapsedSeconds, in: &manifest)
                    began = ContinuousClock.now
                }
            ) { f, status in
                progress(
                    Progress(
                        framesDone: done, workFraction: (Double(done) + f * Double(batch.count)) / total,
                        status: "pass \(pass)/\(passes) " + status))
            }
            try recordFlicker(pass: pass, in: &manifest)
        }
        return meanFlicker(manifest)
    }

    /// Frame `number`'s key in `video.json` and its path under OUTDIR in pass `pass`.
    func key(_ number: Int, pass: Int) -> String {
        (pass == passes ? "" : ".pass-\(pass)/") + outputURL(number).lastPathComponent
    }

    /// Frame `number`'s result of pass `pass`, which must be the size of `content`.
    func result(_ number: Int, pass: Int, like content: PlanarImage) throws -> PlanarImage {
        let url = passDirectory(pass).appendingPathComponent(outputURL(number).lastPathComponent)
        let image = try ImageIO.read(url).image
        guard (image.width, image.height) == (content.width, content.height) else {
            throw RenderFailure(
                "\(url.lastPathComponent) of pass \(pass) is not \(content.width)x\(content.height): it was replaced")
        }
        return image
    }

    /// Records each frame's flicker of pass `pass` (saved): against its neighbour's result of the same pass, the
    /// frame before it in the pass's direction.
    func recordFlicker(pass: Int, in manifest: inout VideoManifest) throws {
        let order = MultiPass.order(numbers, pass: pass)
        var previous: (content: PlanarImage, output: PlanarImage)?
        let base = try sizedDescription()
        for number in order {
            let content = try fit(number, base: base).content
            let output = try result(number, pass: pass, like: content)
            if let previous {
                let motion = FrameMotion.estimate(previous: previous.content, current: content)
                manifest.frames[key(number, pass: pass)]?.flicker = Flicker.temporalError(
                    current: output, warpedPrevious: motion.warpPrevious(previous.output), mask: motion.mask)
            }
            previous = (content, output)
        }
        try manifest.save(directory: outputDirectory)
    }
}
