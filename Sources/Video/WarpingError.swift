import Foundation
import Imaging

/// The warping error of Lai et al. (ECCV 2018, "Learning Blind Video Temporal Consistency"), the field's standard
/// measure of a stylised video's temporal consistency: each output frame warped onto the previous one by the
/// inputs' optical flow, the squared difference averaged over the pixels the flows agree on and the channels
/// (samples in 0...1), then over the frame pairs. Lower is steadier.
///
/// The flow is `FarnebackFlow`, not the renderer's Lucas–Kanade: a measure on the renderer's own flow rewards the
/// temporal loss for matching itself. Occlusions, motion boundaries and pixels that leave the frame are masked by
/// the forward–backward check of `ConsistencyMask` on the two Farnebäck flows.
public enum WarpingError {
    /// One frame pair's error and the fraction of its pixels measured.
    public struct Pair: Sendable, Equatable {
        public var error: Double
        public var coverage: Double
    }

    /// The pair (previous, current): `current` output warped onto `previous` by the flow previous → current of
    /// the inputs. All four images have one size; the outputs' channel counts match.
    public static func pair(
        previousInput: PlanarImage, currentInput: PlanarImage, previousOutput: PlanarImage,
        currentOutput: PlanarImage, flow: FarnebackFlow = FarnebackFlow()
    ) -> Pair {
        // The motion that carries the current frame onto the previous one: its "previous" is the current frame.
        let motion = FrameMotion.estimate(previous: currentInput, current: previousInput, flow: flow)
        let mask = motion.mask, warped = motion.warpPrevious(currentOutput)
        let n = previousOutput.width * previousOutput.height, channels = previousOutput.channels
        var sum = 0.0, kept = 0.0
        for i in 0 ..< n where mask.pixels[i] > 0.5 {
            for c in 0 ..< channels {
                let d = Double(warped.pixels[c * n + i] - previousOutput.pixels[c * n + i])
                sum += d * d
            }
            kept += 1
        }
        return Pair(error: kept > 0 ? sum / (kept * Double(channels)) : 0, coverage: kept / Double(max(1, n)))
    }
}

/// Both temporal measures of a stylised sequence against its input frames: the project's flicker (`Flicker`, on
/// the renderer's flow and mask, as `stylefarm video` reports it) and the warping error (`WarpingError`, on an
/// independent flow), frame pair by frame pair.
public enum SequenceConsistency {
    /// One pair of consecutive frames (`number` is the later frame's place, from 2).
    public struct Pair: Sendable {
        public var number: Int
        public var flicker: Double
        public var warping: WarpingError.Pair
    }

    /// The measures of `outputs` (any tool's frames, one size) against `inputs` (the frames they stylise, in the
    /// same order), each input cropped to the outputs' aspect and resized to their size as a render fits it (so the
    /// flicker of `stylefarm video`'s own frames is the one its manifest records).
    /// Reads two frames of each at a time. Throws what reading a frame throws, or when the counts or sizes differ.
    public static func measure(
        inputs: [URL], outputs: [URL], limits: ImageLimits = .default, progress: (Int) -> Void = { _ in }
    ) throws -> [Pair] {
        guard inputs.count == outputs.count, outputs.count >= 2 else {
            throw MeasureError(
                reason:
                    "need as many input frames as output frames, at least two (\(inputs.count) and \(outputs.count))")
        }
        var previous: (input: PlanarImage, output: PlanarImage)?
        var pairs: [Pair] = []
        for k in 0 ..< outputs.count {
            let output = try ImageIO.read(outputs[k], limits: limits).image
            if let first = previous?.output, first.width != output.width || first.height != output.height {
                throw MeasureError(reason: "\(outputs[k].lastPathComponent) is not the size of the frames before it")
            }
            // Read reduced to what the output uses, as a render reads its frames (`PosterSettings.contentNeed`).
            let raw = try ImageIO.read(
                inputs[k], limits: limits, need: .atLeast(width: output.width, height: output.height)
            ).image
            let input = Resampler.resize(
                CenterCrop.toAspect(raw, width: output.width, height: output.height), width: output.width,
                height: output.height)
            if let previous {
                let motion = FrameMotion.estimate(previous: previous.input, current: input)
                let flicker = motion.flicker(current: output, previous: previous.output)
                let warping = WarpingError.pair(
                    previousInput: previous.input, currentInput: input, previousOutput: previous.output,
                    currentOutput: output)
                pairs.append(Pair(number: k + 1, flicker: flicker, warping: warping))
            }
            previous = (input, output)
            progress(k + 1)
        }
        return pairs
    }

    /// Why a sequence cannot be measured.
    public struct MeasureError: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }
}
