/// Content loss: `L = Σ (F − P)² / (C·N)`, the mean squared difference of features F and target P, (C, N).
public enum ContentLoss {
    /// Returns the loss and adds `weight · dL/dF` into `dFeatures`.
    public static func evaluate(
        features f: UnsafePointer<Float>, target p: UnsafePointer<Float>, count n: Int,
        weight: Float, dFeatures: UnsafeMutablePointer<Float>?
    ) -> Double {
        var sum = 0.0
        let scale = gradientScale(weight: weight, count: n)
        for i in 0 ..< n {
            let d = f[i] - p[i]
            sum += Double(d * d)
            dFeatures?[i] += scale * d
        }
        return sum / Double(n)
    }

    /// weight · dL/dF = scale · (F − P).
    public static func gradientScale(weight: Float, count n: Int) -> Float { 2 * weight / Float(n) }
}

/// Style loss of one layer: `E = Σ (G − A)² / C²` with G the normalised Gram of the features and A the target.
public enum StyleLayerLoss {
    /// Returns E and adds `weight · dE/dF` into `dFeatures`. Leaves `weight · dE/dG` in `gram`.
    /// - features: (C, N); target: (C, C); gram: scratch (C, C).
    public static func evaluate(
        features: UnsafePointer<Float>, target: UnsafePointer<Float>, channels c: Int,
        positions n: Int, weight: Float, gram: UnsafeMutablePointer<Float>,
        dFeatures: UnsafeMutablePointer<Float>?
    ) -> Double {
        Gram.forward(gram: gram, features: features, channels: c, positions: n)
        var sum = 0.0
        let cc = c * c
        let scale = 2 * weight / Float(cc)
        for i in 0 ..< cc {
            let d = gram[i] - target[i]
            sum += Double(d) * Double(d)
            gram[i] = scale * d  // becomes dE/dG, weighted
        }
        if let dFeatures {
            Gram.backward(dFeatures: dFeatures, dGram: gram, features: features, channels: c, positions: n)
        }
        return sum / Double(cc)
    }
}

/// Total variation (squared differences of neighbours):
/// `L = (Σ (x[c,y,x+1] − x[c,y,x])² + Σ (x[c,y+1,x] − x[c,y,x])²) / (C·H·W)`.
public enum TotalVariation {
    /// Returns L and adds `weight · dL/dx` into `dImage`. image: (C, H, W).
    public static func evaluate(
        image x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        weight: Float, dImage: UnsafeMutablePointer<Float>?
    ) -> Double {
        var sum = 0.0
        let scale = 2 * weight / Float(c * h * w)
        for ch in 0 ..< c {
            let p = x + ch * h * w, g = dImage.map { $0 + ch * h * w }
            for y in 0 ..< h {
                for i in y * w ..< (y + 1) * w {
                    if i + 1 < (y + 1) * w {
                        let d = p[i + 1] - p[i]
                        sum += Double(d * d)
                        if let g { g[i + 1] += scale * d; g[i] -= scale * d }
                    }
                    if y + 1 < h {
                        let d = p[i + w] - p[i]
                        sum += Double(d * d)
                        if let g { g[i + w] += scale * d; g[i] -= scale * d }
                    }
                }
            }
        }
        return sum / Double(c * h * w)
    }
}

/// Temporal loss (Ruder et al. 2016): `L = Σ_c Σ_p m_p (x[c,p] − w[c,p])² / (C·N)`, the masked mean squared
/// difference between the image x and the previous frame's result warped onto this frame, w (both (C, N));
/// the mask m (N) is 1 where the warp holds and 0 at occlusions.
public enum TemporalLoss {
    /// Returns L and adds `weight · dL/dx` into `dImage`.
    public static func evaluate(
        image x: UnsafePointer<Float>, target w: UnsafePointer<Float>, mask m: UnsafePointer<Float>,
        channels c: Int, positions n: Int, weight: Float, dImage: UnsafeMutablePointer<Float>?
    ) -> Double {
        var sum = 0.0
        let scale = 2 * weight / Float(c * n)
        for ch in 0 ..< c {
            for p in 0 ..< n where m[p] != 0 {
                let i = ch * n + p, d = x[i] - w[i]
                sum += Double(m[p] * d * d)
                dImage?[i] += scale * m[p] * d
            }
        }
        return sum / Double(c * n)
    }
}

/// A kept layer's loss gradient written over its features, which the backward pass then starts from
/// (see `ActivationArena`): `F ← 2·dG·F/N + s·(F − P)`, with dG the layer's summed, weighted dE/dG (symmetric,
/// so this is `Gram.backward`) and s·(F − P) its content term. Each output column needs only the same column of
/// F, so the work goes in chunks of positions through a small scratch instead of a second full-size buffer.
public enum FeatureGradient {
    /// - features: (C, N), overwritten; dGram: (C, C) or nil; content: the target P (C, N) and the scale s, or nil;
    ///   scratch: at least C floats (`scratchFloats` of them).
    public static func overwrite(
        features f: UnsafeMutablePointer<Float>, channels c: Int, positions n: Int,
        dGram: UnsafePointer<Float>?, content: (target: UnsafePointer<Float>, scale: Float)?,
        scratch: UnsafeMutablePointer<Float>, scratchFloats: Int
    ) {
        precondition(scratchFloats >= c)
        let chunk = min(n, scratchFloats / c)
        var p0 = 0
        while p0 < n {
            let m = min(chunk, n - p0)
            Parallel.forEach(c) { r in for ch in r { (scratch + ch * m).update(from: f + ch * n + p0, count: m) } }
            if let dGram {
                BLAS.parallelSgemm(
                    m: c, n: m, k: c, alpha: 2 / Float(n), a: dGram, lda: c, b: scratch, ldb: m, c: f + p0, ldc: n)
            } else {
                Parallel.forEach(c) { r in for ch in r { (f + ch * n + p0).update(repeating: 0, count: m) } }
            }
            if let content {
                addContent(content, features: f, chunk: scratch, channels: c, positions: n, from: p0, count: m)
            }
            p0 += m
        }
    }

    /// The content term of a chunk of positions `p0 ..< p0 + m`: `F[:, chunk] += s·(X − P[:, chunk])`, X the chunk's
    /// features as they were (C, m).
    static func addContent(
        _ content: (target: UnsafePointer<Float>, scale: Float), features f: UnsafeMutablePointer<Float>,
        chunk x: UnsafePointer<Float>, channels c: Int, positions n: Int, from p0: Int, count m: Int
    ) {
        let (p, s) = content
        Parallel.forEach(c) { r in
            for ch in r {
                let d = f + ch * n + p0, xc = x + ch * m, t = p + ch * n + p0
                for j in 0 ..< m { d[j] += s * (xc[j] - t[j]) }
            }
        }
    }
}
