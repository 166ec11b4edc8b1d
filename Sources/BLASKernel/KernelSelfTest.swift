import COpenBLAS
import Foundation

/// The correctness self-test and speed measurement a candidate kernel must pass (run in a child process of its
/// own, with `OPENBLAS_CORETYPE` set, by `KernelProbe`).
///
/// Correctness: single-threaded `cblas_sgemm` on the shapes below, compared with a naive double-precision
/// reference. An element passes when |C − R| ≤ `tolerance` · Σₖ |A_ik B_kj| (+ 1e-30): float32 rounding of a
/// K-term dot product stays far below that (measured: about 1e-7), a wrong kernel misses it by orders of magnitude.
public enum KernelSelfTest {
    /// (M, N, K, transA, transB): edge sizes that exercise every remainder path, then the shapes the network uses
    /// (Winograd's batched sgemm forward and backward, the Gram matrix, im2col's first layer), one past a K block.
    public static let shapes: [(m: Int, n: Int, k: Int, transA: Bool, transB: Bool)] = [
        (1, 1, 1, false, false), (7, 5, 3, false, false), (37, 53, 29, false, false), (17, 33, 65, true, false),
        (64, 200, 64, false, false), (64, 200, 128, true, false), (64, 64, 1000, false, true),
        (64, 300, 27, false, false),
        (96, 160, 600, false, false), (128, 96, 256, true, true)
    ]
    public static let tolerance = 1e-5

    /// The largest error of any element of any shape, relative to its Σ|a||b|; `.infinity` for a non-finite value.
    public static func worstError() -> Double {
        openblas_set_num_threads(1)
        var worst = 0.0
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        for s in shapes {
            let a = (0 ..< s.m * s.k).map { _ in next() }, b = (0 ..< s.k * s.n).map { _ in next() }
            var c = (0 ..< s.m * s.n).map { _ in next() }  // beta = 0 must not read it
            let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
            cblas_sgemm(
                CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans, s.transB ? CblasTrans : CblasNoTrans,
                blasint(s.m), blasint(s.n), blasint(s.k), 1, a, blasint(lda), b, blasint(ldb), 0, &c, blasint(s.n))
            for i in 0 ..< s.m {
                for j in 0 ..< s.n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0 ..< s.k {
                        let x = Double(s.transA ? a[p * lda + i] : a[i * lda + p])
                        let y = Double(s.transB ? b[j * ldb + p] : b[p * ldb + j])
                        sum += x * y
                        magnitude += abs(x * y)
                    }
                    let value = Double(c[i * s.n + j])
                    guard value.isFinite else { return .infinity }
                    worst = max(worst, abs(value - sum) / (magnitude + 1e-30))
                }
            }
        }
        return worst
    }

    /// Single-threaded GFLOP/s on a Winograd-like shape (256 × 1024 × 256), best of repeats over about `seconds`.
    public static func gflops(seconds: Double = 0.3) -> Double {
        openblas_set_num_threads(1)
        let m = 256, n = 1024, k = 256
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var best = Double.infinity, spent = 0.0
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(k), b,
                blasint(n), 0, &c, blasint(n))
            let t = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            best = min(best, t)
            spent += t
        } while spent < seconds
        return 2 * Double(m * n * k) / best / 1e9
    }
}
