import Imaging

/// The motion between two consecutive input frames, as the video renderer and the flicker metric need it:
/// the flow that carries the previous frame onto the current one, and where that is trustworthy.
public struct FrameMotion: Sendable {
    /// Current → previous: `previous(x + backward(x))` shows what `current(x)` shows.
    public var backward: FlowField
    /// Previous → current.
    public var forward: FlowField
    /// 1 where the two agree (`ConsistencyMask`), 0 at occlusions, motion boundaries and the frame's edge.
    public var mask: PlanarImage

    /// Estimates both flows between two input frames (same size) and their consistency mask, with the renderer's
    /// flow or another (the warping error's `FarnebackFlow`).
    public static func estimate(previous: PlanarImage, current: PlanarImage, flow: any DenseFlow = OpticalFlow())
        -> FrameMotion
    {
        let backward = flow.flow(from: current, to: previous)
        let forward = flow.flow(from: previous, to: current)
        return FrameMotion(
            backward: backward, forward: forward, mask: ConsistencyMask.compute(backward: backward, forward: forward))
    }

    /// An image of the previous frame (input or output, the frames' size) brought onto the current frame.
    public func warpPrevious(_ image: PlanarImage) -> PlanarImage { backward.warp(image) }

    /// `Flicker.temporalError` of the current output against the previous output brought onto it, under the mask.
    public func flicker(current: PlanarImage, previous: PlanarImage) -> Double {
        Flicker.temporalError(current: current, warpedPrevious: warpPrevious(previous), mask: mask)
    }
}

/// Temporal flicker of a stylised sequence.
public enum Flicker {
    /// Mean absolute difference between an output frame and the previous output frame warped onto it, over the
    /// pixels the mask keeps, in 8-bit levels (0...255) averaged over R, G and B. Lower is steadier.
    public static func temporalError(current: PlanarImage, warpedPrevious: PlanarImage, mask: PlanarImage) -> Double {
        precondition(
            current.width == warpedPrevious.width && current.height == warpedPrevious.height
                && mask.width == current.width && mask.height == current.height
                && current.channels == warpedPrevious.channels)
        let n = current.width * current.height
        var sum = 0.0, kept = 0.0
        for i in 0 ..< n where mask.pixels[i] > 0.5 {
            for c in 0 ..< current.channels {
                sum += Double(abs(current.pixels[c * n + i] - warpedPrevious.pixels[c * n + i]))
            }
            kept += 1
        }
        return kept > 0 ? 255 * sum / (kept * Double(current.channels)) : 0
    }
}
