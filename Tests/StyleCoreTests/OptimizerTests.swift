import Foundation
import StyleCore
import Testing

/// The optimizers on problems with known minima, and a short real render.
@Suite struct OptimizerTests {
    /// f(x) = Σ dᵢ (xᵢ − cᵢ)² with condition number 100.
    static func quadratic(_ x: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, n: Int) -> Double {
        var f = 0.0
        for i in 0 ..< n {
            let d = 1 + 99 * Float(i) / Float(n - 1), c = Float(i % 7) - 3
            f += Double(d * (x[i] - c) * (x[i] - c))
            g[i] = 2 * d * (x[i] - c)
        }
        return f
    }

    @Test func lbfgsConvergesOnAnIllConditionedQuadratic() {
        let n = 50
        var x = [Float](repeating: 0, count: n)
        let opt = LBFGS(count: n, history: 5, learningRate: 1)
        let first = x.withUnsafeMutableBufferPointer { p in
            opt.step(p.baseAddress!, count: n) { Self.quadratic($0, $1, n: n) }
        }
        var last = first
        for _ in 0 ..< 60 {
            last = x.withUnsafeMutableBufferPointer { p in
                opt.step(p.baseAddress!, count: n) { Self.quadratic($0, $1, n: n) }
            }
        }
        #expect(last < first * 1e-6, "loss \(first) -> \(last)")
    }

    @Test func adamDecreasesTheLoss() {
        let n = 50
        var x = [Float](repeating: 0, count: n)
        let opt = Adam(count: n, learningRate: 0.1)
        var losses: [Double] = []
        for _ in 0 ..< 200 {
            losses.append(
                x.withUnsafeMutableBufferPointer { p in
                    opt.step(p.baseAddress!, count: n) { Self.quadratic($0, $1, n: n) }
                })
        }
        #expect(losses.last! < losses.first! * 1e-2, "loss \(losses.first!) -> \(losses.last!)")
    }

    @Test(arguments: [
        OptimizerKind.lbfgs(history: 5, learningRate: 1), .adam(learningRate: 2, beta1: 0.9, beta2: 0.999)
    ])
    func renderingReducesTheLossAndKeepsTheBest(kind: OptimizerKind) {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let content = CaffeImage(width: 24, height: 20, pixels: GradientCheck.random(3 * 480, seed: 21, amplitude: 50))
        let style = CaffeImage(width: 24, height: 24, pixels: GradientCheck.random(3 * 576, seed: 22, amplitude: 50))
        var options = RenderOptions()
        options.iterations = 30
        options.optimizer = kind
        options.loss.tvWeight = 0.01
        let targets = GramTargets.compute(network: network, image: style, layers: options.loss.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: options.loss, content: content, targets: targets)
        var seen: [Double] = []
        let result = StyleOptimization.run(
            objective: objective, start: content, options: options, progress: { seen.append($0.loss) })
        #expect(seen.count == 30)
        #expect(result.loss < seen[0] * 0.5, "loss \(seen[0]) -> \(result.loss)")
        #expect(result.loss <= seen.min()!)
        let check = result.image.pixels.withUnsafeBufferPointer {
            objective.evaluate($0.baseAddress!, gradient: nil).total
        }
        #expect(abs(check - result.loss) <= 1e-9 * result.loss)
    }

    /// L-BFGS with a step three times too long overshoots and would diverge; the run restarts from the best
    /// image whenever the loss climbs past `divergenceFactor` × the best, so it ends finite and improved.
    @Test func divergenceRestartsFromTheBestImage() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let content = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 24, amplitude: 50))
        let style = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 25, amplitude: 50))
        var options = RenderOptions()
        options.iterations = 40
        options.optimizer = .lbfgs(history: 5, learningRate: 3)
        let targets = GramTargets.compute(network: network, image: style, layers: options.loss.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: options.loss, content: content, targets: targets)
        var seen: [Double] = []
        let result = StyleOptimization.run(
            objective: objective, start: content, options: options, progress: { seen.append($0.loss) })
        #expect(seen.contains { $0 > StyleOptimization.divergenceFactor * seen[0] }, "the test needs a diverging step")
        #expect(result.loss.isFinite && result.loss < seen[0], "loss \(seen[0]) -> \(result.loss)")
        #expect(result.loss <= seen.min()!)
    }

    /// With a tolerance, a run stops at the iteration the stopping rule picks on the run's own best-loss curve.
    @Test func toleranceStopsWhereTheRuleSaysOnTheRunsOwnCurve() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let content = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 23, amplitude: 50))
        let style = CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 29, amplitude: 50))
        var options = RenderOptions()
        options.iterations = 300
        let targets = GramTargets.compute(
            network: network, image: style, layers: options.loss.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: options.loss, content: content, targets: targets)
        var bests: [Double] = []
        let full = StyleOptimization.run(
            objective: objective, start: content, options: options, progress: { bests.append($0.bestLoss) })
        #expect(full.iterations == 300)
        // A threshold just above the decrease over the window that ends at iteration 100: the rule stops by then.
        let w = StoppingRule.window
        options.relativeTolerance = (bests[99 - w] - bests[99]) / bests[99 - w] * 1.001
        let expected = StoppingRuleTests.stopsAt(bests, StoppingRule(relativeDecrease: options.relativeTolerance))
        let result = StyleOptimization.run(objective: objective, start: content, options: options)
        #expect(expected.map { $0 <= 100 } == true)
        #expect(result.iterations == expected)
    }
}
