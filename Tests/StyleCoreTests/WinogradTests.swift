import Foundation
import StyleCore
import Testing

/// Winograd F(4x4, 3x3) against im2col, layer by layer, forward and backward.
///
/// Tolerance: relative L2 error 1e-5 on random data of unit scale. fp32 Winograd F(4,3) has transform
/// entries up to 8 and 1/24, and its reported error is 10–100× im2col's (~1e-7 relative for K ≤ 4608);
/// 1e-5 leaves headroom while a wrong transform entry or index gives errors of order 1.
@Suite struct WinogradTests {
    static func run(_ conv: VGG19.Conv, c: Int, k: Int, h: Int, w: Int, input: [Float], backward: Bool, budget: Int)
        -> [Float]
    {
        let network = VGG19(convs: [conv])
        let arena = ActivationArena(network: network, height: h, width: w, depth: 1, maxColumnFloats: budget)
        if !backward {
            input.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
            return Array(UnsafeBufferPointer(start: arena.output(0), count: k * h * w))
        }
        // Backward: make every ReLU output positive (large bias) so the gradient passes unmasked.
        let x = [Float](repeating: 0, count: c * h * w)
        x.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
        var dx = [Float](repeating: 0, count: c * h * w)
        // The loss gradient goes over the kept layer's output, where the backward pass starts.
        input.withUnsafeBufferPointer { arena.output(0).update(from: $0.baseAddress!, count: k * h * w) }
        dx.withUnsafeMutableBufferPointer { network.backward(arena: arena, dInput: $0.baseAddress!) }
        return dx
    }

    /// (in, out, height, width, scratch budget): VGG-like and odd sizes, budgets forcing many chunks.
    static let shapes: [(Int, Int, Int, Int, Int)] = [
        (16, 8, 8, 8, 1 << 20), (16, 32, 13, 7, 1 << 20), (24, 16, 5, 9, 3000),
        (16, 16, 1, 1, 1 << 20), (32, 16, 17, 3, 5000), (64, 64, 32, 32, 1 << 22),
        (8, 8, 21, 100, 1 << 20), (8, 8, 36, 70, 20000)
    ]

    @Test(arguments: shapes, [false, true])
    func matchesIm2col(shape: (Int, Int, Int, Int, Int), backward: Bool) {
        let (c, k, h, w, budget) = shape
        let weights = GradientCheck.random(k * c * 9, seed: 31, amplitude: 0.3)
        let bias = backward ? [Float](repeating: 100, count: k) : GradientCheck.random(k, seed: 32)
        let im2col = VGG19.Conv(
            name: "relu1_1", inChannels: c, outChannels: k, weights: weights, bias: bias, algorithm: .im2col)
        let wino = im2col.with(algorithm: .winograd)
        let input = GradientCheck.random(backward ? k * h * w : c * h * w, seed: 33)
        let ref = Self.run(im2col, c: c, k: k, h: h, w: w, input: input, backward: backward, budget: budget)
        let ours = Self.run(wino, c: c, k: k, h: h, w: w, input: input, backward: backward, budget: budget)
        let d = relativeDifference(ours, ref)
        #expect(d.norm < 1e-5, "relative error \(d)")
    }

    @Test func realNetworkGradientMatchesIm2colOnTheReference() throws {
        let f = try Fixture(named: "vgg19_ref_64.sffx")
        let wino = PyTorchReferenceTests.network.with(algorithm: .winograd)
        let (gw, lw) = PyTorchReferenceTests.gradient(
            PyTorchReferenceTests.objective(
                f, pooling: .max, content: 1, style: 1, tv: 0,
                network: wino), f["input/x"])
        let ref = wino.with(algorithm: .im2col)
        let (gi, li) = PyTorchReferenceTests.gradient(
            PyTorchReferenceTests.objective(
                f, pooling: .max, content: 1, style: 1, tv: 0,
                network: ref), f["input/x"])
        #expect(abs(lw.total - li.total) <= 1e-5 * li.total)
        #expect(relativeDifference(gw, gi).norm < 1e-4)
    }
}
