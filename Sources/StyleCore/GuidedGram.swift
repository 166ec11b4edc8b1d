/// Guided Gram matrices (Gatys, Ecker, Bethge, Hertzmann and Shechtman, "Controlling Perceptual Factors in Neural
/// Style Transfer", CVPR 2017, spatial control): the features of a region, weighted by its guidance channel T at the
/// layer's resolution, `F_T = F ∘ T`, and their Gram normalised by the region's weight,
/// `G_T = F_T F_Tᵀ / ΣT² = Σ_p T_p² f_p f_pᵀ / Σ_p T_p²`: the mean outer product over the region. A tile's guided Gram
/// then compares with the whole image's, as an unguided one does (`Gram`); with T ≡ 1 it is `Gram`.
///
/// The work goes in chunks of positions through a scratch of C × chunk floats, so no second full-size copy of F is
/// made.
public enum GuidedGram {
    /// gram (C, C) = (F∘T)(F∘T)ᵀ / ΣT² for features (C, N) and guide T (N). Returns ΣT²; 0 means the region is absent
    /// and `gram` is left as it was.
    /// - scratch: at least C floats (`scratchFloats`).
    @discardableResult
    public static func forward(
        gram: UnsafeMutablePointer<Float>, features f: UnsafePointer<Float>, guide t: UnsafePointer<Float>,
        channels c: Int, positions n: Int, scratch: UnsafeMutablePointer<Float>, scratchFloats: Int
    ) -> Float {
        let weight = self.weight(guide: t, positions: n)
        guard weight > 0, scratchFloats >= c else { return 0 }
        let chunk = min(n, scratchFloats / c)
        var p0 = 0
        while p0 < n {
            let m = min(chunk, n - p0)
            Parallel.forEach(c) { r in
                for ch in r {
                    let src = f + ch * n + p0, dst = scratch + ch * m
                    for j in 0 ..< m { dst[j] = src[j] * t[p0 + j] }
                }
            }
            BLAS.parallelSgemm(
                transB: true, m: c, n: c, k: m, alpha: 1 / weight, a: scratch, lda: m, b: scratch, ldb: m,
                beta: p0 == 0 ? 0 : 1, c: gram, ldc: c)
            p0 += m
        }
        return weight
    }

    /// ΣT² over the positions.
    public static func weight(guide t: UnsafePointer<Float>, positions n: Int) -> Float {
        var sum = 0.0
        for p in 0 ..< n { sum += Double(t[p] * t[p]) }
        return Float(sum)
    }

    /// The guides of a layer: each channel of `masks` (K, H, W) at the input's resolution, averaged over 2×2 blocks
    /// (floor mode, as `Pool2x2`) until it has the layer's `height` × `width`. Returns (K, height·width).
    public static func guides(
        _ masks: [Float], channels k: Int, height h: Int, width w: Int, toHeight th: Int, toWidth tw: Int
    ) -> [Float] {
        var (plane, ph, pw) = (masks, h, w)
        while ph > th || pw > tw {
            let (oh, ow) = (Pool2x2.outputSize(ph), Pool2x2.outputSize(pw))
            var out = [Float](repeating: 0, count: k * oh * ow)
            for ch in 0 ..< k {
                for y in 0 ..< oh {
                    for x in 0 ..< ow {
                        let i = (ch * ph + 2 * y) * pw + 2 * x
                        out[(ch * oh + y) * ow + x] =
                            0.25 * (plane[i] + plane[i + 1] + plane[i + pw] + plane[i + pw + 1])
                    }
                }
            }
            (plane, ph, pw) = (out, oh, ow)
        }
        return plane
    }
}

/// The style loss of one layer over regions: each region r with its guide T_r, target A_r and weight w_r adds
/// `w_r · (ΣT_r²/N) · Σ (G_r − A_r)² / C²`: the unguided `StyleLayerLoss` per region, counted in proportion to how
/// much of the image (or tile) the region covers, so one region covering everything is the unguided loss (regions
/// that partition the image with one target cost at least as much, by convexity), and a region only touching a
/// tile's corner weighs little there.
///
/// Its gradient needs no normalisation: with D_r = w_r · 2(G_r − A_r)/C² (symmetric),
/// `dE/dF = Σ_r (2/N) · D_r · F · diag(T_r²)`; `FeatureGradient.overwriteGuided` applies it.
public enum GuidedStyleLoss {
    /// Returns `(ΣT²/N) · Σ (G − A)² / C²` for one region and leaves `D = weight · 2(G − A)/C²` in `gram` (nil when
    /// the region is absent: T ≡ 0 here).
    /// - features (C, N); guide (N); target (C, C); gram: (C, C) scratch and result.
    public static func evaluate(
        features: UnsafePointer<Float>, guide: UnsafePointer<Float>, target: UnsafePointer<Float>,
        channels c: Int, positions n: Int, weight: Float, gram: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, scratchFloats: Int
    ) -> Double? {
        let covered = GuidedGram.forward(
            gram: gram, features: features, guide: guide, channels: c, positions: n, scratch: scratch,
            scratchFloats: scratchFloats)
        guard covered > 0 else { return nil }
        var sum = 0.0
        let cc = c * c, scale = 2 * weight / Float(cc)
        for i in 0 ..< cc {
            let d = gram[i] - target[i]
            sum += Double(d) * Double(d)
            gram[i] = scale * d
        }
        return Double(covered) / Double(n) * sum / Double(cc)
    }
}

extension FeatureGradient {
    /// `FeatureGradient.overwrite` over regions: `F ← Σ_r (2/N)·D_r·F·diag(T_r²) + s·(F − P)`, for the regions' summed
    /// weighted dE/dG_r (each symmetric, (C, C)) and guides T_r (N). The scratch holds a chunk of F and its weighted
    /// copy: at least 2C floats.
    public static func overwriteGuided(
        features f: UnsafeMutablePointer<Float>, channels c: Int, positions n: Int,
        regions: [(dGram: UnsafePointer<Float>, guide: UnsafePointer<Float>)],
        content: (target: UnsafePointer<Float>, scale: Float)?,
        scratch: UnsafeMutablePointer<Float>, scratchFloats: Int
    ) {
        precondition(scratchFloats >= 2 * c)
        let chunk = min(n, scratchFloats / (2 * c))
        let copy = scratch, weighted = scratch + c * chunk
        var p0 = 0
        while p0 < n {
            let m = min(chunk, n - p0)
            Parallel.forEach(c) { r in
                for ch in r {
                    (copy + ch * m).update(from: f + ch * n + p0, count: m)
                    (f + ch * n + p0).update(repeating: 0, count: m)
                }
            }
            for (dGram, t) in regions {
                Parallel.forEach(c) { r in
                    for ch in r {
                        let src = copy + ch * m, dst = weighted + ch * m
                        for j in 0 ..< m { dst[j] = src[j] * t[p0 + j] * t[p0 + j] }
                    }
                }
                BLAS.parallelSgemm(
                    m: c, n: m, k: c, alpha: 2 / Float(n), a: dGram, lda: c, b: weighted, ldb: m, beta: 1, c: f + p0,
                    ldc: n)
            }
            if let content {
                addContent(content, features: f, chunk: copy, channels: c, positions: n, from: p0, count: m)
            }
            p0 += m
        }
    }
}
