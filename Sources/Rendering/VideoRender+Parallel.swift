import Foundation
import Imaging
import JobModel
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
        let first = try fit(numbers[0], base: base)
        let styles = try LocalRender.styles(first.inputs, settings: first.settings).map(\.image)
        for pass in 1 ... passes {
            guard !shouldStop() else { throw RenderFailure.interrupted }
            try FileManager.default.createDirectory(at: passDirectory(pass), withIntermediateDirectories: true)
            // A frame is prepared when the backend takes it, from files: a pass is never held in memory at once.
            let batch = MultiPass.order(numbers, pass: pass).filter { number in
                manifest.frames[key(number, pass: pass)] == nil
                    || (try? result(number, pass: pass, like: first.content)) == nil
            }.map { number in
                (
                    number,
                    BatchFrame(output: outputDirectory.appendingPathComponent(key(number, pass: pass))) {
                        try parallelFrame(number, pass: pass, base: base, like: first.content, styles: styles)
                    }
                )
            }
            let done = pass * numbers.count - batch.count, total = Double(numbers.count * passes)
            progress(Progress(framesDone: done, status: "pass \(pass)/\(passes): \(batch.count) frames to render"))
            var began = ContinuousClock.now
            try backend.render(
                batch: batch.map(\.1), manifest: &manifest, directory: outputDirectory, shouldStop: shouldStop,
                finished: { i, manifest in
                    // Recorded as it is written (its flicker and mask once the pass is done), so a stop loses no frame.
                    let number = batch[i].0
                    manifest.frames[key(number, pass: pass)] = .init(
                        number: number, input: frames[number - 1].path, seconds: began.elapsedSeconds, flicker: nil,
                        maskCoverage: nil, pass: passes > 1 ? pass : nil)
                    try manifest.save(directory: outputDirectory)
                    began = ContinuousClock.now
                }
            ) { f, status in
                progress(
                    Progress(
                        framesDone: done, workFraction: (Double(done) + f * Double(batch.count)) / total,
                        status: "pass \(pass)/\(passes) " + status))
            }
            try recordFlicker(pass: pass, base: base, in: &manifest)
        }
        return meanFlicker(manifest)
    }

    /// Frame `number` of pass `pass`, read and prepared from files alone: from pass 2 on, with its own result of the
    /// pass before and its neighbours' (as far back as the temporal loss reaches, in the pass's direction).
    func parallelFrame(
        _ number: Int, pass: Int, base: JobDescription, like reference: PlanarImage, styles: [PlanarImage]
    ) throws -> VideoFrame {
        let fitted = try fit(number, base: base, after: reference)
        var history: [(content: PlanarImage, output: PlanarImage)] = [], own: PlanarImage?
        if pass > 1 {
            own = try result(number, pass: pass - 1, like: fitted.content)
            let order = MultiPass.order(numbers, pass: pass), place = order.firstIndex(of: number) ?? 0
            for neighbour in order[max(0, place - ((temporalFrames + [1]).max() ?? 1)) ..< place] {
                let content = try fit(neighbour, base: base, after: reference).content
                history.append((content, try result(neighbour, pass: pass - 1, like: content)))
            }
        }
        var frame = prepare(fitted, styleImages: styles, history: history, own: own)
        frame.inputs.output = outputDirectory.appendingPathComponent(key(number, pass: pass))
        return frame
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

    /// Records each frame's flicker of pass `pass` and the coverage of its consistency mask (saved): against its
    /// neighbour's result of the same pass, the frame before it in the pass's direction.
    func recordFlicker(pass: Int, base: JobDescription, in manifest: inout VideoManifest) throws {
        var previous: (content: PlanarImage, output: PlanarImage)?
        for number in MultiPass.order(numbers, pass: pass) {
            let content = try fit(number, base: base).content
            let output = try result(number, pass: pass, like: content)
            if let previous {
                let motion = FrameMotion.estimate(previous: previous.content, current: content)
                manifest.frames[key(number, pass: pass)]?.flicker = motion.flicker(
                    current: output, previous: previous.output)
                manifest.frames[key(number, pass: pass)]?.maskCoverage = ConsistencyMask.coverage(motion.mask)
            }
            previous = (content, output)
        }
        try manifest.save(directory: outputDirectory)
    }
}
