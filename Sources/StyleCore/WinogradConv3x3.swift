/// 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering F(4x4, 3x3)
/// (Lavin & Gray 2016): each 4x4 output tile costs 36 multiplies per channel pair instead of 144.
///
///   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
///
/// - Filters are transformed once, when the weights load: U[ξ] (K, C) for the 36 positions ξ.
/// - Input tiles (6x6, stride 4) are transformed to V[ξ] (C, P) for a chunk of P tiles.
/// - The multiply stage is 36 sgemms, M[ξ] (K, P) = U[ξ] · V[ξ], spread over the core's threads.
/// - Output tiles are M[ξ] → Aᵀ m A, 4x4, cropped at the image's edges, plus bias.
///
/// The backward pass to the input is the exact adjoint of this map: output-gradient tiles go through
/// A (4x4 → 6x6), the multiply uses U[ξ]ᵀ (sgemm with transposed A), and B scatters 6x6 patches back,
/// overlapping by 2 pixels, into the input gradient. It needs no second copy of the filters.
///
/// Accuracy: F(4,3)'s transforms have entries up to 8 (and 1/24 in G), so float32 rounding error is larger
/// than im2col's; tested layer by layer against im2col (Tests/StyleCoreTests/WinogradTests.swift).
public enum WinogradConv3x3 {
    static let tile = 4, patch = 6, positions = 36

    /// U (36, K, C) from OIHW weights (K, C, 3, 3).
    public static func transformFilters(_ w: [Float], inChannels c: Int, outChannels k: Int) -> [Float] {
        var u = [Float](repeating: 0, count: positions * k * c)
        // G (6x3), rows for the points 0, −1, 1, −2, 2 (order as in Lavin & Gray) and ∞.
        let g: [[Double]] = [
            [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]
        ]
        for o in 0 ..< k {
            for i in 0 ..< c {
                let f = (0 ..< 9).map { Double(w[(o * c + i) * 9 + $0]) }
                var t = [Double](repeating: 0, count: 18)  // G g: (6, 3)
                for r in 0 ..< 6 {
                    for col in 0 ..< 3 { t[r * 3 + col] = (0 ..< 3).reduce(0.0) { $0 + g[r][$1] * f[$1 * 3 + col] } }
                }
                for r in 0 ..< 6 {
                    for col in 0 ..< 6 {
                        let v = (0 ..< 3).reduce(0.0) { $0 + t[r * 3 + $1] * g[col][$1] }  // (G g) Gᵀ
                        u[((r * 6 + col) * k + o) * c + i] = Float(v)
                    }
                }
            }
        }
        return u
    }

    /// Tiles per chunk so that V and M (36 floats per tile per channel each) stay within `maxFloats`.
    static func tilesPerChunk(channels: Int, maxFloats: Int, tilesAcross: Int) -> Int {
        let perRow = positions * channels * tilesAcross
        return max(1, maxFloats / max(1, perRow)) * tilesAcross
    }

    /// Scratch floats needed by `forward`/`backward` with a budget of `maxFloats` per buffer.
    public static func scratchFloats(inChannels c: Int, outChannels k: Int, height h: Int, width w: Int, maxFloats: Int)
        -> Int
    {
        let across = (w + 3) / 4, total = across * ((h + 3) / 4)
        let p = min(total, tilesPerChunk(channels: max(c, k), maxFloats: maxFloats, tilesAcross: across))
        return positions * p * (c + k)
    }

    /// out (K, H, W) = conv(input (C, H, W)) + bias. u: (36, K, C). scratch: `scratchFloats` floats.
    public static func forward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, filters u: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
        scratch: UnsafeMutablePointer<Float>, maxFloats: Int
    ) {
        let across = (w + 3) / 4, down = (h + 3) / 4, total = across * down
        let chunk = min(total, tilesPerChunk(channels: max(c, k), maxFloats: maxFloats, tilesAcross: across))
        var p0 = 0
        while p0 < total {
            let p = min(chunk, total - p0)
            let v = scratch, m = scratch + positions * p * c
            inputTransform(
                v: v, input: input, channels: c, height: h, width: w, firstTile: p0, tiles: p, across: across)
            // The 36 sgemms spread over the core's threads, each single-threaded.
            Parallel.forEach(positions) { range in
                for xi in range {
                    BLAS.sgemm(
                        m: k, n: p, k: c, a: u + xi * k * c, lda: c, b: v + xi * p, ldb: positions * p, c: m + xi * p,
                        ldc: positions * p)
                }
            }
            outputTransform(
                out: out, m: m, bias: bias, channels: k, height: h, width: w, firstTile: p0, tiles: p, across: across)
            p0 += p
        }
    }

    /// dInput (C, H, W) = adjoint of `forward` applied to dOut (K, H, W) (overwritten, or added with `accumulate`).
    public static func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, filters u: UnsafePointer<Float>,
        inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
        scratch: UnsafeMutablePointer<Float>, maxFloats: Int, accumulate: Bool = false
    ) {
        let across = (w + 3) / 4, down = (h + 3) / 4, total = across * down
        let chunk = min(total, tilesPerChunk(channels: max(c, k), maxFloats: maxFloats, tilesAcross: across))
        if !accumulate { dInput.update(repeating: 0, count: c * h * w) }
        var p0 = 0
        while p0 < total {
            let p = min(chunk, total - p0)
            let v = scratch, m = scratch + positions * p * c
            outputTransformAdjoint(
                m: m, dOut: dOut, channels: k, height: h, width: w, firstTile: p0, tiles: p, across: across)
            Parallel.forEach(positions) { range in
                for xi in range {
                    BLAS.sgemm(
                        transA: true, m: c, n: p, k: k, a: u + xi * k * c, lda: c, b: m + xi * p, ldb: positions * p,
                        c: v + xi * p, ldc: positions * p)
                }
            }
            inputTransformAdjoint(
                dInput: dInput, v: v, channels: c, height: h, width: w, firstTile: p0, tiles: p, across: across)
            p0 += p
        }
    }
}
