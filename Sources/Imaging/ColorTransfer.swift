import Foundation

/// Colour operations for style transfer.
public enum ColorTransfer {
    /// "Preserve original colours" by luminance transfer: keeps the luma of `styled` and takes the chroma of
    /// `original`, in full-range BT.601 YCbCr (`Y = 0.299 R + 0.587 G + 0.114 B`, `Cb = (B - Y) / 1.772`,
    /// `Cr = (R - Y) / 1.402`).
    ///
    /// Both images must have 3 channels. If `original` differs in size it is first resized to `styled`'s size with
    /// `Resampler`. The result is not clamped (it may leave `0...1` slightly); writing clamps.
    public static func preserveColors(styled: PlanarImage, original: PlanarImage) -> PlanarImage {
        precondition(styled.channels == 3 && original.channels == 3, "preserveColors needs RGB images")
        let source =
            original.width == styled.width && original.height == styled.height
            ? original : Resampler.resize(original, width: styled.width, height: styled.height)
        let plane = styled.planeSize
        var out = styled
        styled.pixels.withUnsafeBufferPointer { styledBuffer in
            source.pixels.withUnsafeBufferPointer { sourceBuffer in
                out.pixels.withUnsafeMutableBufferPointer { outBuffer in
                    let s = styledBuffer.baseAddress!, o = sourceBuffer.baseAddress!, d = outBuffer.baseAddress!
                    Parallel.forEachRange(count: plane, minimumChunk: 4096) { range in
                        for i in range {
                            let luma = Self.luma(s[i], s[plane + i], s[2 * plane + i])
                            let (r0, g0, b0) = (o[i], o[plane + i], o[2 * plane + i])
                            let y0 = Self.luma(r0, g0, b0)
                            let cb = (b0 - y0) / 1.772, cr = (r0 - y0) / 1.402
                            let r = luma + 1.402 * cr, b = luma + 1.772 * cb
                            d[i] = r
                            d[plane + i] = (luma - 0.299 * r - 0.114 * b) / 0.587
                            d[2 * plane + i] = b
                        }
                    }
                }
            }
        }
        return out
    }

    /// Colour histogram matching by mean and covariance (Gatys et al. 2017, colour control; Hertzmann 1998): the
    /// affine map `x' = A (x − μ_s) + μ_c` with `A = Σ_c^½ Σ_s^−½` (symmetric square roots), which gives `style` the
    /// mean μ_c and covariance Σ_c of `content`'s RGB values. Done to the style images before their Grams, so the
    /// painting's texture arrives in the photograph's colours. Not clamped (a matched style may leave `0...1`
    /// slightly; the network takes any value).
    public static func matchColors(_ style: PlanarImage, to content: PlanarImage) -> PlanarImage {
        precondition(style.channels == 3 && content.channels == 3, "matchColors needs RGB images")
        let (ms, cs) = statistics(style), (mc, cc) = statistics(content)
        let a = multiply(symmetricPower(cc, 0.5), symmetricPower(cs, -0.5))
        let n = style.planeSize
        var out = style
        for p in 0 ..< n {
            let d = (0 ..< 3).map { Double(style.pixels[$0 * n + p]) - ms[$0] }
            for r in 0 ..< 3 {
                let mapped: Double = a[r * 3] * d[0] + a[r * 3 + 1] * d[1] + a[r * 3 + 2] * d[2]
                out.pixels[r * n + p] = Float(mc[r] + mapped)
            }
        }
        return out
    }

    /// Mean (3) and covariance (3×3, row-major) of an RGB image's pixels.
    public static func statistics(_ image: PlanarImage) -> (mean: [Double], covariance: [Double]) {
        let n = image.planeSize
        var mean = [0.0, 0, 0], cov = [Double](repeating: 0, count: 9)
        for c in 0 ..< 3 {
            mean[c] = image.pixels[c * n ..< (c + 1) * n].reduce(0.0) { $0 + Double($1) } / Double(max(1, n))
        }
        for p in 0 ..< n {
            let d = (0 ..< 3).map { Double(image.pixels[$0 * n + p]) - mean[$0] }
            for r in 0 ..< 3 { for c in 0 ..< 3 { cov[r * 3 + c] += d[r] * d[c] } }
        }
        return (mean, cov.map { $0 / Double(max(1, n)) })
    }

    /// M^power of a symmetric 3×3 matrix through its eigendecomposition (Jacobi rotations), eigenvalues floored at
    /// 1e−6 so a flat image (a zero variance) stays finite.
    static func symmetricPower(_ m: [Double], _ power: Double) -> [Double] {
        var a = m, v: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        for _ in 0 ..< 50 {
            var (p, q, largest) = (0, 1, 0.0)
            for (i, j) in [(0, 1), (0, 2), (1, 2)] where abs(a[i * 3 + j]) > largest {
                (p, q, largest) = (i, j, abs(a[i * 3 + j]))
            }
            if largest < 1e-15 { break }
            let theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * a[p * 3 + q])
            let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
            let c = 1 / (t * t + 1).squareRoot(), s = t * c
            var r: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
            (r[p * 3 + p], r[q * 3 + q], r[p * 3 + q], r[q * 3 + p]) = (c, c, s, -s)
            a = multiply(multiply(transpose(r), a), r)
            v = multiply(v, r)
        }
        let d = (0 ..< 3).map { pow(max(a[$0 * 4], 1e-6), power) }
        var out = [Double](repeating: 0, count: 9)
        for i in 0 ..< 3 {
            for j in 0 ..< 3 {
                var sum = 0.0
                for k in 0 ..< 3 { sum += v[i * 3 + k] * d[k] * v[j * 3 + k] }
                out[i * 3 + j] = sum
            }
        }
        return out
    }

    static func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
        (0 ..< 9).map { k in
            let (row, column) = (k / 3, k % 3)
            var sum = 0.0
            for j in 0 ..< 3 { sum += a[row * 3 + j] * b[j * 3 + column] }
            return sum
        }
    }

    static func transpose(_ a: [Double]) -> [Double] { (0 ..< 9).map { a[($0 % 3) * 3 + $0 / 3] } }

    /// BT.601 luma of an RGB triple.
    @inline(__always)
    static func luma(_ r: Float, _ g: Float, _ b: Float) -> Float {
        0.299 * r + 0.587 * g + 0.114 * b
    }
}

/// `ColorTransfer.preserveColors` of two same-size sources, computed per region (for canvases on disk).
public struct ColorPreserved: ImageRegionSource {
    public let styled: ImageRegionSource
    public let original: ImageRegionSource
    public var width: Int { styled.width }
    public var height: Int { styled.height }
    public var channels: Int { styled.channels }

    public init(styled: ImageRegionSource, original: ImageRegionSource) {
        precondition(
            styled.width == original.width && styled.height == original.height,
            "preserveColors per region needs equal sizes")
        (self.styled, self.original) = (styled, original)
    }

    public func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage {
        ColorTransfer.preserveColors(
            styled: try styled.region(x: x, y: y, width: width, height: height),
            original: try original.region(x: x, y: y, width: width, height: height))
    }
}
