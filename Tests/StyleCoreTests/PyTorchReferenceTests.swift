import Foundation
import StyleCore
import Testing
import VGGWeights

/// The real VGG19 (installed weights) against the PyTorch float64 reference in Fixtures/
/// (Tests/Reference/make_fixtures.py, 64x64 content, 96x64 style, x = content/noise mix).
///
/// Tolerances: our pass is float32 with sgemm reductions of up to 4608 terms; against a float64 reference
/// the expected relative error is ~1e-6·√K ≈ 1e-5 per activation, growing through 13 layers. We allow
/// 1e-4 relative on activation statistics and loss terms, and 1e-3 relative (L2) on input gradients
/// (each gradient passes back through 13 layers and 4 max-pool routings). A wrong layer, a wrong transpose
/// or a wrong normalisation misses these by orders of magnitude.
@Suite struct PyTorchReferenceTests {
    static let network: VGG19 = {
        Compute.configure(threads: 2)
        do {
            return VGG19(weights: try WeightsFile.read(WeightsLocation.resolve()))
        } catch {
            fatalError("real weights are needed: run `stylefarm weights install` (scripts/test.sh does): \(error)")
        }
    }()

    static func image(_ f: Fixture, _ name: String) -> CaffeImage {
        let s = f.shape(name)
        return CaffeImage(width: s[2], height: s[1], pixels: f[name])
    }

    static func objective(
        _ f: Fixture, pooling: Pool2x2.Kind, content: Float, style: Float, tv: Float,
        network base: VGG19 = network
    ) -> GatysObjective {
        let network = base.with(pooling: pooling)
        var config = LossConfig()
        config.contentWeight = content
        config.styleWeight = style
        config.tvWeight = tv
        let targets = GramTargets.compute(
            network: network, image: image(f, "input/style"), layers: config.styleLayers.map(\.name))
        return GatysObjective(network: network, config: config, content: image(f, "input/content"), targets: targets)
    }

    static func gradient(_ objective: GatysObjective, _ x: [Float]) -> ([Float], LossBreakdown) {
        var g = [Float](repeating: 0, count: x.count)
        let l = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
        return (g, l)
    }

    @Test func activationsMatch() throws {
        let f = try Fixture(named: "vgg19_ref_64.sffx")
        let arena = ActivationArena(network: Self.network, height: 64, width: 64, depth: 13)
        f["input/x"].withUnsafeBufferPointer { Self.network.forward($0.baseAddress!, arena: arena) }
        for (i, name) in VGG19.layerNames.enumerated() {
            let s = arena.outputShapes[i]
            let v = Array(UnsafeBufferPointer(start: arena.output(i), count: s.count)).map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
            let ref = f["stats/\(name)"].map(Double.init)
            for (ours, theirs, what) in [(mean, ref[0], "mean"), (std, ref[1], "std"), (v.max()!, ref[2], "max")] {
                #expect(abs(ours - theirs) <= 1e-4 * abs(theirs), "\(name) \(what): \(ours) vs \(theirs)")
            }
        }
        let last = Array(UnsafeBufferPointer(start: arena.output(12), count: 512 * 16))
        #expect(relativeDifference(last, f["act/relu5_1"]).norm < 1e-4)
        let first = Array(UnsafeBufferPointer(start: arena.output(0), count: 256))
        #expect(relativeDifference(first, f["act/relu1_1_first"]).max < 1e-5)
    }

    @Test func styleTargetGramMatches() throws {
        let f = try Fixture(named: "vgg19_ref_64.sffx")
        let targets = GramTargets.compute(
            network: Self.network, image: Self.image(f, "input/style"), layers: ["relu3_1"])
        #expect(relativeDifference(targets.grams["relu3_1"]!, f["gram/relu3_1"]).norm < 1e-4)
    }

    @Test(arguments: [("vgg19_ref_64.sffx", Pool2x2.Kind.max), ("vgg19_ref_avgpool_64.sffx", .average)])
    func lossesAndGradientsMatch(file: String, pooling: Pool2x2.Kind) throws {
        let f = try Fixture(named: file)
        let inputs = try Fixture(named: "vgg19_ref_64.sffx")  // the average-pooling fixture reuses these inputs
        let x = inputs["input/x"]
        // Each term alone, so each gradient is compared on its own.
        let (gc, lc) = Self.gradient(Self.objective(inputs, pooling: pooling, content: 1, style: 0, tv: 0), x)
        let (gs, ls) = Self.gradient(Self.objective(inputs, pooling: pooling, content: 0, style: 1, tv: 0), x)
        #expect(abs(lc.content - f.scalar("loss/content")) <= 1e-4 * f.scalar("loss/content"))
        #expect(abs(ls.style - f.scalar("loss/style")) <= 1e-4 * f.scalar("loss/style"))
        for layer in ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"] {
            let ref = f.scalar("loss/style/\(layer)")
            #expect(abs(ls.styleLayers[layer]! - ref) <= 1e-4 * ref, "\(layer): \(ls.styleLayers[layer]!) vs \(ref)")
        }
        let dc = relativeDifference(gc, f["grad/content"]), ds = relativeDifference(gs, f["grad/style"])
        #expect(dc.norm < 1e-3, "content gradient \(dc)")
        #expect(ds.norm < 1e-3, "style gradient \(ds)")
        if f.tensors["grad/tv"] != nil {
            let (gt, lt) = Self.gradient(Self.objective(inputs, pooling: pooling, content: 0, style: 0, tv: 1), x)
            #expect(abs(lt.tv - f.scalar("loss/tv")) <= 1e-5 * f.scalar("loss/tv"))
            #expect(relativeDifference(gt, f["grad/tv"]).norm < 1e-5)
        }
    }
}
