import Foundation
import StyleCore
import Testing

/// The whole objective (VGG19 topology, small synthetic weights) against finite differences.
@Suite struct NetworkGradientTests {
    /// All 13 convolutions with few channels; He-scaled random weights so activations neither vanish nor explode.
    static func syntheticNetwork(pooling: Pool2x2.Kind) -> VGG19 {
        let channels = [3, 4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8]
        let convs = VGG19.layerNames.enumerated().map { i, name in
            let c = channels[i], k = channels[i + 1]
            let scale = Float((2.0 / Double(9 * c)).squareRoot()) * 1.7
            return VGG19.Conv(
                name: name, inChannels: c, outChannels: k,
                weights: GradientCheck.random(k * c * 9, seed: UInt64(100 + i), amplitude: scale),
                bias: GradientCheck.random(k, seed: UInt64(200 + i), amplitude: 0.05))
        }
        return VGG19(convs: convs, pooling: pooling)
    }

    @Test(arguments: Pool2x2.Kind.allCases)
    func objectiveGradientMatchesFiniteDifferences(pooling: Pool2x2.Kind) {
        let network = Self.syntheticNetwork(pooling: pooling)
        let (w, h) = (18, 16)  // relu5_1 is 1x1 here; the odd 18/4 → 4 pooled width exercises floor mode
        let content = CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * w * h, seed: 1))
        let style = CaffeImage(width: 20, height: 20, pixels: GradientCheck.random(3 * 400, seed: 2))
        var config = LossConfig()
        config.contentWeight = 1
        config.styleWeight = 5
        config.tvWeight = 0.1
        let targets = GramTargets.compute(network: network, image: style, layers: config.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: config, content: content, targets: targets)
        let x = GradientCheck.random(3 * w * h, seed: 3)
        var g = [Float](repeating: 0, count: x.count)
        let breakdown = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
        #expect(breakdown.content > 0 && breakdown.style > 0 && breakdown.tv > 0)
        #expect(breakdown.styleLayers.count == 5)
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-3, samples: 60) { v in
            v.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil).total }
        }
        #expect(err < 2e-2, "relative error \(err)")
    }

    /// Loss layers that are pooled (relu1_2, relu3_4), two style terms on one layer and content on a style
    /// layer: the backward pass adds into kept layers through pooling, and one layer's terms are summed.
    @Test(arguments: Pool2x2.Kind.allCases)
    func gradientThroughPooledAndSharedLossLayersMatchesFiniteDifferences(pooling: Pool2x2.Kind) {
        let network = Self.syntheticNetwork(pooling: pooling)
        let (w, h) = (16, 14)
        let content = CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * w * h, seed: 11))
        let style = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(3 * 256, seed: 12))
        var config = LossConfig()
        config.styleLayers = [("relu1_2", 1), ("relu2_1", 2), ("relu3_4", 1), ("relu2_1", 0.5)]
        config.contentLayer = "relu2_1"
        config.contentWeight = 1
        config.styleWeight = 5
        let targets = GramTargets.compute(network: network, image: style, layers: ["relu1_2", "relu2_1", "relu3_4"])
        let objective = GatysObjective(network: network, config: config, content: content, targets: targets)
        #expect(objective.arena.kept == [1, 2, 7])
        let x = GradientCheck.random(3 * w * h, seed: 13)
        var g = [Float](repeating: 0, count: x.count)
        let breakdown = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
        #expect(breakdown.content > 0 && breakdown.style > 0)
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-3, samples: 60) { v in
            v.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil).total }
        }
        #expect(err < 2e-2, "relative error \(err)")
    }

    /// The arena at 512² through relu5_1 holds the default loss layers' outputs and two transients (the largest
    /// other activation, relu1_2, and pool1's output beside it), and nothing else of activation size.
    @Test func arenaKeepsOnlyTheLossLayers() {
        let network = Self.syntheticNetwork(pooling: .max)
        let config = LossConfig()
        let kept = Set((config.styleLayers.map(\.name) + [config.contentLayer]).compactMap(network.index(of:)))
        #expect(kept == [0, 2, 4, 8, 9, 12])
        let diet = ActivationArena.Layout(
            network: network, height: 512, width: 512, depth: 13, kept: kept, maxColumnFloats: 1 << 16)
        // Channels here are 4…8 (relu1_1 has 4): the kept outputs are 4+6+8+8+8+8 channel-planes at their sizes.
        let keptFloats = [4 * 512 * 512, 6 * 256 * 256, 8 * 128 * 128, 8 * 64 * 64, 8 * 64 * 64, 8 * 32 * 32].reduce(
            0, +)
        let transients = 4 * 512 * 512 + 4 * 256 * 256  // relu1_2, and pool1 beside it
        #expect(diet.totalFloats - diet.scratchFloats - 2 * 8 * 8 == keptFloats + transients)  // minus two 8x8 Grams
    }

    @Test func evaluationIsDeterministic() {
        let network = Self.syntheticNetwork(pooling: .max)
        let content = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 4))
        let targets = GramTargets.compute(network: network, image: content, layers: ["relu1_1", "relu3_1"])
        var config = LossConfig()
        config.styleLayers = [("relu1_1", 1), ("relu3_1", 1)]
        let objective = GatysObjective(network: network, config: config, content: content, targets: targets)
        let x = GradientCheck.random(768, seed: 5)
        var g1 = [Float](repeating: 0, count: 768), g2 = g1
        let l1 = x.withPointers(&g1) { objective.evaluate($0, gradient: $1) }
        let l2 = x.withPointers(&g2) { objective.evaluate($0, gradient: $1) }
        #expect(l1 == l2 && g1 == g2)
    }

    /// The objective with a video frame's temporal term: the whole gradient still matches finite differences,
    /// and the term adds exactly 2·w·m·(x − t)/(3·H·W) to it.
    @Test func temporalTermGradientMatchesFiniteDifferences() {
        let network = Self.syntheticNetwork(pooling: .max)
        let (w, h) = (16, 16), n = w * h
        let content = CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * n, seed: 6))
        let targets = GramTargets.compute(network: network, image: content, layers: ["relu1_1", "relu2_1"])
        var config = LossConfig()
        config.styleLayers = [("relu1_1", 1), ("relu2_1", 1)]
        config.contentWeight = 1
        let temporal = (
            target: CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * n, seed: 7)),
            mask: (0 ..< n).map { Float(($0 / 5) % 2) }
        )
        let plain = GatysObjective(
            network: network, config: config, content: content, targets: targets, temporal: temporal)
        config.temporalWeight = 4
        let objective = GatysObjective(
            network: network, config: config, content: content, targets: targets, temporal: temporal)
        let x = GradientCheck.random(3 * n, seed: 8)
        var g = [Float](repeating: 0, count: x.count), g0 = g
        let breakdown = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
        let without = x.withPointers(&g0) { plain.evaluate($0, gradient: $1) }
        #expect(breakdown.temporal > 0 && without.temporal == 0, "a zero temporal weight must switch the term off")
        for i in 0 ..< x.count {
            let expected = 2 * 4 * temporal.mask[i % n] * (x[i] - temporal.target.pixels[i]) / Float(3 * n)
            #expect(abs(g[i] - g0[i] - expected) <= 1e-5 * max(1, abs(expected)))
        }
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-3, samples: 60) { v in
            v.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil).total }
        }
        #expect(err < 2e-2, "relative error \(err)")
    }
}
