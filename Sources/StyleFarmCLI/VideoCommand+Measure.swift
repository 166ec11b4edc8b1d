import ArgumentParser
import Foundation
import Video

/// `stylefarm video FRAMES --measure OUTPUTS`: both temporal measures of a stylised sequence, printed pair by pair.
extension VideoCommand {
    func runMeasure(_ spec: String, frames: [URL]) throws {
        let outputs = try FrameSequence(spec).files
        guard outputs.count >= 2, outputs.count <= frames.count else {
            throw ValidationError(
                "--measure: \(outputs.count) frames in \(spec) for \(frames.count) in FRAMES from frame \(firstFrame)"
                    + " (need at least two, and no more than FRAMES has)")
        }
        let bar = ProgressBar(total: outputs.count, label: "measure")
        let clock = ContinuousClock.now
        let pairs = try SequenceConsistency.measure(inputs: Array(frames.prefix(outputs.count)), outputs: outputs) {
            bar.update($0, status: "frame \($0)/\(outputs.count)", elapsed: clock.elapsedSeconds)
        }
        bar.finish()
        print("pair  flicker  warping_error  measured")
        for p in pairs {
            print(
                String(
                    format: "%4d  %7.3f  %13.6f  %7.1f%%", p.number, p.flicker, p.warping.error,
                    100 * p.warping.coverage))
        }
        let n = Double(pairs.count)
        print(
            String(
                format: "flicker: mean %.3f (8-bit levels; the renderer's Lucas-Kanade flow and mask; %d frame pairs)",
                pairs.map(\.flicker).reduce(0, +) / n, pairs.count))
        print(
            String(
                format:
                    "warping error: mean %.6f (Lai et al. 2018; Farneback flow, forward-backward mask; samples 0...1)",
                pairs.map(\.warping.error).reduce(0, +) / n))
    }
}
