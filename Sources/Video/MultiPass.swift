import Imaging

/// The multi-pass algorithm of Ruder et al. ("Artistic style transfer for videos", 2016, section 4.3): after a
/// first pass over the sequence, further passes alternate backward and forward, each frame starting from a blend
/// of its own result of the pass before and its neighbour's result of this pass (the frame processed just before
/// it), warped onto it. Information then flows both ways along the sequence, so the artefacts a single forward
/// pass builds up at its start and at disocclusions are evened out.
public enum MultiPass {
    /// Processing order of pass `pass` (from 1) over `numbers`: forward on odd passes, backward on even ones.
    public static func order(_ numbers: [Int], pass: Int) -> [Int] { pass % 2 == 1 ? numbers : numbers.reversed() }

    /// A frame's start in a later pass: δ·c·w + (1 − δ·c)·x, per pixel, with x its own result of the pass before,
    /// w its neighbour's result warped onto it, c the neighbour's consistency mask (0 or 1) and δ `blend` in 0...1
    /// (Ruder et al.'s δ c ∘ w + (1 − δ + δ(1 − c)) ∘ x). All one size; `own` and `warped` RGB, `mask` 1 channel.
    public static func start(own: PlanarImage, warped: PlanarImage, mask: PlanarImage, blend: Float) -> PlanarImage {
        var out = own
        let n = own.width * own.height
        for i in 0 ..< n {
            let a = blend * mask.pixels[i]
            guard a > 0 else { continue }
            for c in 0 ..< own.channels {
                out.pixels[c * n + i] = a * warped.pixels[c * n + i] + (1 - a) * own.pixels[c * n + i]
            }
        }
        return out
    }
}
