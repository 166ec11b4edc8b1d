import Foundation
import StyleCore
import Testing

/// Every layer's forward against a naive reference, and every backward pass against finite differences.
@Suite struct LayerGradientTests {
    /// Naive 3x3 convolution in Double: the algorithmic reference for im2col + sgemm.
    static func naiveConv(_ x: [Float], _ w: [Float], _ b: [Float], c: Int, k: Int, h: Int, wd: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k * h * wd)
        for o in 0 ..< k {
            for y in 0 ..< h {
                for xx in 0 ..< wd {
                    var s = Double(b[o])
                    for i in 0 ..< c {
                        for ky in 0 ..< 3 {
                            for kx in 0 ..< 3 {
                                let sy = y + ky - 1, sx = xx + kx - 1
                                guard sy >= 0, sy < h, sx >= 0, sx < wd else { continue }
                                s += Double(w[((o * c + i) * 3 + ky) * 3 + kx]) * Double(x[(i * h + sy) * wd + sx])
                            }
                        }
                    }
                    out[(o * h + y) * wd + xx] = Float(s)
                }
            }
        }
        return out
    }

    static func conv(_ x: [Float], _ w: [Float], _ b: [Float], c: Int, k: Int, h: Int, wd: Int, chunk: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k * h * wd)
        var cols = [Float](
            repeating: 0, count: Conv3x3.columnFloats(inChannels: c, height: h, width: wd, maxColumnFloats: chunk))
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        cols.withUnsafeMutableBufferPointer { cp in
                            Conv3x3.forward(
                                out: op.baseAddress!, input: xp.baseAddress!, weights: wp.baseAddress!,
                                bias: bp.baseAddress!, inChannels: c, outChannels: k, height: h, width: wd,
                                columns: cp.baseAddress!, maxColumnFloats: chunk)
                        }
                    }
                }
            }
        }
        return out
    }

    /// (channels in, out, height, width, column budget): odd and tiny sizes, and budgets forcing many chunks.
    static let convShapes: [(Int, Int, Int, Int, Int)] = [
        (3, 4, 5, 7, 1 << 20), (2, 3, 9, 4, 30), (5, 2, 1, 1, 1 << 20),
        (4, 6, 6, 1, 40), (3, 8, 11, 13, 100)
    ]

    @Test(arguments: convShapes)
    func convolutionForwardMatchesNaive(shape: (Int, Int, Int, Int, Int)) {
        let (c, k, h, w, chunk) = shape
        let x = GradientCheck.random(c * h * w, seed: 1), wt = GradientCheck.random(k * c * 9, seed: 2)
        let b = GradientCheck.random(k, seed: 3)
        let ours = Self.conv(x, wt, b, c: c, k: k, h: h, wd: w, chunk: chunk)
        let ref = Self.naiveConv(x, wt, b, c: c, k: k, h: h, wd: w)
        let err = zip(ours, ref).map { abs($0 - $1) }.max() ?? 0
        #expect(err < 1e-5, "max |diff| \(err)")
    }

    @Test(arguments: convShapes)
    func convolutionBackwardMatchesFiniteDifferences(shape: (Int, Int, Int, Int, Int)) {
        let (c, k, h, w, chunk) = shape
        let x = GradientCheck.random(c * h * w, seed: 4), wt = GradientCheck.random(k * c * 9, seed: 5)
        let zero = [Float](repeating: 0, count: k)
        let r = GradientCheck.random(k * h * w, seed: 6)
        var dx = [Float](repeating: 0, count: c * h * w)
        var cols = [Float](
            repeating: 0, count: Conv3x3.columnFloats(inChannels: c, height: h, width: w, maxColumnFloats: chunk))
        r.withUnsafeBufferPointer { rp in
            wt.withUnsafeBufferPointer { bp in
                cols.withUnsafeMutableBufferPointer { cp in
                    dx.withUnsafeMutableBufferPointer { dp in
                        Conv3x3.backward(
                            dInput: dp.baseAddress!, dOut: rp.baseAddress!, weights: bp.baseAddress!,
                            inChannels: c, outChannels: k, height: h, width: w, columns: cp.baseAddress!,
                            maxColumnFloats: chunk)
                    }
                }
            }
        }
        let err = GradientCheck.relativeError(x: x, analytic: dx) {
            GradientCheck.weightedSum(Self.conv($0, wt, zero, c: c, k: k, h: h, wd: w, chunk: chunk), r)
        }
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test func reluBackwardMatchesFiniteDifferences() {
        // Keep inputs away from the kink at 0 so ±h never crosses it.
        let x = GradientCheck.random(200, seed: 7).map { $0 + ($0 >= 0 ? 0.1 : -0.1) }
        let r = GradientCheck.random(200, seed: 8)
        var mask = [UInt64](repeating: 0, count: ReLU.maskWords(200))
        func f(_ v: [Float]) -> [Float] {
            var y = v
            y.withUnsafeMutableBufferPointer { ReLU.forward($0.baseAddress!, mask: &mask, count: $0.count) }
            return y
        }
        var g = r
        let y = f(x)
        #expect(
            mask.count == 4 && (0 ..< 200).allSatisfy { (mask[$0 / 64] >> UInt64($0 % 64)) & 1 == (y[$0] > 0 ? 1 : 0) })
        g.withUnsafeMutableBufferPointer { ReLU.backward($0.baseAddress!, mask: mask, count: 200) }
        #expect(g.contains(0) && g.contains { $0 != 0 })
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-2, samples: 200) {
            GradientCheck.weightedSum(f($0), r)
        }
        #expect(err < 1e-4, "relative error \(err)")
    }

    @Test(arguments: Pool2x2.Kind.allCases, [(3, 6, 8), (2, 7, 5), (1, 2, 2)])
    func poolingBackwardMatchesFiniteDifferences(kind: Pool2x2.Kind, shape: (Int, Int, Int)) {
        let (c, h, w) = shape
        // Distinct values on a grid spaced wider than 2h: no ties, no switching argmax under perturbation.
        var x = (0 ..< c * h * w).map { Float($0) * 0.1 }
        var rng = SeededRandom(seed: 9)
        x.shuffle(using: &rng)
        let oh = h / 2, ow = w / 2
        let r = GradientCheck.random(c * oh * ow, seed: 10)
        var argmax = [UInt8](repeating: 9, count: c * oh * ow)
        func f(_ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: c * oh * ow)
            v.withPointers(&out) {
                Pool2x2.forward(kind, out: $1, input: $0, argmax: &argmax, channels: c, height: h, width: w)
            }
            return out
        }
        _ = f(x)
        // Accumulating onto a prior gradient adds exactly the overwritten result.
        let prior = GradientCheck.random(x.count, seed: 11)
        func backward(_ d: inout [Float], accumulate: Bool) {
            d.withUnsafeMutableBufferPointer {
                Pool2x2.backward(
                    kind, dInput: $0.baseAddress!, dOut: r, argmax: kind == .max ? argmax : nil, channels: c,
                    height: h, width: w, accumulate: accumulate)
            }
        }
        var dx = [Float](repeating: 0, count: x.count), sum = prior
        backward(&dx, accumulate: false)
        backward(&sum, accumulate: true)
        #expect(zip(sum, zip(prior, dx)).allSatisfy { $0 == $1.0 + $1.1 })
        let err = GradientCheck.relativeError(x: x, analytic: dx, h: 1e-2, samples: 500) {
            GradientCheck.weightedSum(f($0), r)
        }
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test(arguments: [(4, 10), (7, 3), (1, 1)])
    func styleLossGradientMatchesFiniteDifferences(shape: (Int, Int)) {
        let (c, n) = shape
        let f0 = GradientCheck.random(c * n, seed: 11)
        var target = [Float](repeating: 0, count: c * c)
        let other = GradientCheck.random(c * n, seed: 12)
        other.withPointers(&target) { Gram.forward(gram: $1, features: $0, channels: c, positions: n) }
        func loss(_ f: [Float], _ grad: inout [Float]?) -> Double {
            var gram = [Float](repeating: 0, count: c * c)
            return f.withUnsafeBufferPointer { fp in
                target.withUnsafeBufferPointer { tp in
                    gram.withUnsafeMutableBufferPointer { gp in
                        if grad != nil {
                            return grad!.withUnsafeMutableBufferPointer {
                                StyleLayerLoss.evaluate(
                                    features: fp.baseAddress!, target: tp.baseAddress!, channels: c, positions: n,
                                    weight: 1.5, gram: gp.baseAddress!, dFeatures: $0.baseAddress!)
                            }
                        }
                        return StyleLayerLoss.evaluate(
                            features: fp.baseAddress!, target: tp.baseAddress!, channels: c, positions: n,
                            weight: 1.5, gram: gp.baseAddress!, dFeatures: nil)
                    }
                }
            }
        }
        var g: [Float]? = [Float](repeating: 0, count: c * n)
        _ = loss(f0, &g)
        var none: [Float]? = nil
        let err = GradientCheck.relativeError(x: f0, analytic: g!, h: 1e-3) { 1.5 * loss($0, &none) }
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test func gramOfACropComparesWithTheWhole() {
        // A feature map that repeats a 2-position pattern: any whole number of periods has the same Gram.
        let c = 3, pattern = GradientCheck.random(c * 2, seed: 13)
        func gram(periods: Int) -> [Float] {
            let n = 2 * periods
            var f = [Float](repeating: 0, count: c * n)
            for ch in 0 ..< c { for i in 0 ..< n { f[ch * n + i] = pattern[ch * 2 + i % 2] } }
            var g = [Float](repeating: 0, count: c * c)
            f.withPointers(&g) { Gram.forward(gram: $1, features: $0, channels: c, positions: n) }
            return g
        }
        let small = gram(periods: 3), large = gram(periods: 50)
        #expect(zip(small, large).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func contentLossGradientMatchesFiniteDifferences() {
        let f0 = GradientCheck.random(60, seed: 14), p = GradientCheck.random(60, seed: 15)
        func loss(_ f: [Float], _ g: UnsafeMutablePointer<Float>?) -> Double {
            f.withUnsafeBufferPointer { fp in
                p.withUnsafeBufferPointer { pp in
                    ContentLoss.evaluate(
                        features: fp.baseAddress!, target: pp.baseAddress!, count: 60, weight: 2, dFeatures: g)
                }
            }
        }
        var g = [Float](repeating: 0, count: 60)
        _ = g.withUnsafeMutableBufferPointer { loss(f0, $0.baseAddress!) }
        let err = GradientCheck.relativeError(x: f0, analytic: g, h: 1e-2) { 2 * loss($0, nil) }
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test(arguments: [(3, 5, 6), (3, 1, 4), (3, 1, 1)])
    func totalVariationGradientMatchesFiniteDifferences(shape: (Int, Int, Int)) {
        let (c, h, w) = shape
        let x = GradientCheck.random(c * h * w, seed: 16)
        func loss(_ v: [Float], _ g: UnsafeMutablePointer<Float>?) -> Double {
            v.withUnsafeBufferPointer {
                TotalVariation.evaluate(image: $0.baseAddress!, channels: c, height: h, width: w, weight: 3, dImage: g)
            }
        }
        var g = [Float](repeating: 0, count: x.count)
        _ = g.withUnsafeMutableBufferPointer { loss(x, $0.baseAddress!) }
        if h * w == 1 {
            #expect(loss(x, nil) == 0 && g.allSatisfy { $0 == 0 })
            return
        }
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-2) { 3 * loss($0, nil) }
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test(arguments: [(3, 5, 6), (3, 1, 1)])
    func temporalLossGradientMatchesFiniteDifferences(shape: (Int, Int, Int)) {
        let (c, h, w) = shape, n = h * w
        let x = GradientCheck.random(c * n, seed: 17), target = GradientCheck.random(c * n, seed: 18)
        let mask = (0 ..< n).map { Float($0 % 3 == 1 ? 0 : 1) }
        func loss(_ v: [Float], _ g: UnsafeMutablePointer<Float>?) -> Double {
            v.withUnsafeBufferPointer { xp in
                TemporalLoss.evaluate(
                    image: xp.baseAddress!, target: target, mask: mask, channels: c, positions: n, weight: 3, dImage: g)
            }
        }
        var g = [Float](repeating: 0, count: x.count)
        _ = g.withUnsafeMutableBufferPointer { loss(x, $0.baseAddress!) }
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-2) { 3 * loss($0, nil) }
        #expect(err < 1e-3, "relative error \(err)")
        // Masked-out pixels neither count nor move.
        for p in 0 ..< n where mask[p] == 0 { for ch in 0 ..< c { #expect(g[ch * n + p] == 0) } }
        var moved = x
        for p in 0 ..< n where mask[p] == 0 { for ch in 0 ..< c { moved[ch * n + p] += 5 } }
        #expect(loss(moved, nil) == loss(x, nil))
    }
}
