/// Gram matrix of a feature map, normalised by the number of spatial positions:
/// `G = F Fᵀ / N` for F of shape (C, N). A crop's Gram is then comparable to the whole image's (both are
/// averages of per-position outer products), which tiling depends on. Gatys et al. use the unnormalised
/// `F Fᵀ` with a 1/(4 N² M²) factor in the loss; this differs only by constants folded into the weights.
public enum Gram {
    /// gram (C, C) = features (C, N) · features(C, N)ᵀ / N
    public static func forward(
        gram: UnsafeMutablePointer<Float>, features: UnsafePointer<Float>, channels c: Int,
        positions n: Int
    ) {
        BLAS.parallelSgemm(
            transB: true, m: c, n: c, k: n, alpha: 1 / Float(n), a: features, lda: n, b: features, ldb: n,
            c: gram, ldc: c)
    }

    /// dFeatures (C, N) += (dGram + dGramᵀ) · features / N, for a symmetric dGram this is 2·dGram·F/N.
    /// - dGram: (C, C), assumed symmetric (true for any loss of a Gram matrix).
    public static func backward(
        dFeatures: UnsafeMutablePointer<Float>, dGram: UnsafePointer<Float>,
        features: UnsafePointer<Float>, channels c: Int, positions n: Int
    ) {
        BLAS.parallelSgemm(
            m: c, n: n, k: c, alpha: 2 / Float(n), a: dGram, lda: c, b: features, ldb: n, beta: 1,
            c: dFeatures, ldc: n)
    }
}
