import Imaging

/// Long-term consistency (Ruder et al., "Artistic style transfer for videos", 2016, section 4.2): the temporal
/// loss holds a pixel to the nearest earlier frame in which it is visible, not only to the previous one, so a
/// region that reappears after an occlusion keeps the strokes it had.
///
/// For the frames `j` back (1, 2, 4 by default), each warped onto the current frame with its own consistency
/// mask c(i−j, i), Ruder et al.'s long-term weights are c_long(i−j, i) = max(c(i−j, i) − Σ_{k<j} c(i−k, i), 0): with
/// 0/1 masks, each pixel is held by the nearest frame that keeps it and by no other. Their loss, a sum of one term
/// per frame back with these disjoint weights, is therefore a single temporal term towards one composed target:
/// at each pixel the nearest keeping frame's warped result, masked by the union of the masks. `compose` builds that
/// target, so the objective, the farm's wire and the workers stay as they are.
public enum LongTermConsistency {
    /// The temporal target of the current frame (its input `content`, at the output size) from the frames before it
    /// (`history`, oldest first: each one's input content and output), for the frames `back` listed: each warped
    /// onto the current frame by its own flow (`FrameMotion`) and masked by its own consistency check, composed
    /// nearest first. `previous` is the previous frame's already warped result and mask (what the frame starts
    /// from), used for one frame back instead of estimating that flow again. Nil without an earlier frame.
    public static func target(
        content: PlanarImage, history: [(content: PlanarImage, output: PlanarImage)], back: [Int],
        previous: (warped: PlanarImage, mask: PlanarImage)?
    ) -> (image: PlanarImage, mask: PlanarImage)? {
        compose(
            Set(back).sorted().filter { $0 <= history.count }.compactMap { back in
                if back == 1, let previous { return previous }
                let then = history[history.count - back]
                let motion = FrameMotion.estimate(previous: then.content, current: content)
                return (warped: motion.warpPrevious(then.output), mask: motion.mask)
            })
    }

    /// The composed target from the earlier frames' warped results and masks, nearest first (all one size: RGB
    /// images, 1-channel 0/1 masks). Nil when there is none.
    public static func compose(_ nearestFirst: [(warped: PlanarImage, mask: PlanarImage)]) -> (
        image: PlanarImage, mask: PlanarImage
    )? {
        guard var image = nearestFirst.first?.warped, var mask = nearestFirst.first?.mask else { return nil }
        let n = image.width * image.height
        for (warped, other) in nearestFirst.dropFirst() {
            for i in 0 ..< n where mask.pixels[i] < 0.5 && other.pixels[i] >= 0.5 {
                mask.pixels[i] = 1
                for c in 0 ..< image.channels { image.pixels[c * n + i] = warped.pixels[c * n + i] }
            }
        }
        return (image, mask)
    }
}
