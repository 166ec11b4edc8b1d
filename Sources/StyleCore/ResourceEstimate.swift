import Foundation

/// What rendering an image of a given size costs one worker: memory from the arena layout and the
/// optimizer, time from a quick measurement on this machine.
public enum ResourceEstimate {
    /// Peak bytes of one render of a (width, height) image or tile with the default loss layers: activation
    /// arena, network parameters, L-BFGS history and vectors, and the image buffers around them; with `regions`
    /// (spatial control), their guides (the tile's crop and each style layer's pooled copy, under 4/3 of it) and
    /// per-region Gram gradients.
    public static func peakBytes(network: VGG19, width: Int, height: Int, lbfgsHistory: Int, regions: Int = 0) -> Int {
        let config = LossConfig()
        let kept = Set((config.styleLayers.map(\.name) + [config.contentLayer]).compactMap(network.index(of:)))
        let arena = ActivationArena.Layout(
            network: network, height: height, width: width, depth: (kept.max() ?? 0) + 1,
            kept: kept, maxColumnFloats: 4 << 20
        ).totalBytes
        let weights = network.convs.reduce(0) { $0 + $1.bytes }
        let n = 3 * width * height
        let optimizer = (2 * lbfgsHistory + 3) * n
        let images = 6 * n  // x, best x, content, canvas crop, result, gradient
        let maxC = network.convs.map(\.outChannels).max() ?? 0
        let guides = regions * (width * height * 7 / 3 + maxC * maxC)
        return arena + weights + 4 * (optimizer + images + guides)
    }

    /// The side to time for a render whose largest optimisation is `width`×`height`: its longer side, at most 384
    /// (a few seconds of timing) and at least 128.
    public static func estimateSize(width: Int, height: Int) -> Int { min(384, max(128, max(width, height))) }

    /// Seconds per iteration per pixel, from timing one forward+backward at `size`² (after a warm-up). Small sizes
    /// cost more per pixel (at 192² about 25% more than at 512² on a 2-core machine): time a size near the one
    /// the estimate is for (`estimateSize`). With `regions`, the loss is guided over that many soft regions (each a
    /// guided Gram per style layer, forward and backward), as a job with regions costs.
    public static func secondsPerPixelIteration(network: VGG19, size: Int = 192, regions: Int = 0) -> Double {
        var rng = SeededRandom(seed: 2)
        let image = CaffeImage(width: size, height: size, pixels: rng.uniform(3 * size * size, amplitude: 100))
        let targets = GramTargets.compute(network: network, image: image, layers: LossConfig().styleLayers.map(\.name))
        let guidance =
            regions > 0 ? StyleGuidance.random(width: size, height: size, count: regions, targets: targets) : nil
        let objective = GatysObjective(
            network: network, config: LossConfig(), content: image, targets: targets, guidance: guidance)
        var g = [Float](repeating: 0, count: image.pixels.count)
        let run = {
            image.pixels.withUnsafeBufferPointer { x in
                g.withUnsafeMutableBufferPointer { _ = objective.evaluate(x.baseAddress!, gradient: $0.baseAddress!) }
            }
        }
        run()
        let start = DispatchTime.now().uptimeNanoseconds
        run()
        run()
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / 2 / Double(size * size)
    }
}
