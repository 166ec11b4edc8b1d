import COpenBLAS
import Foundation
import Synchronization

/// The few OpenBLAS entry points the compute core uses, with its threading controls.
public enum BLAS {
    /// Sets OpenBLAS's thread count (the compute core's own loops use `Parallel.threads`).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// The kernel OpenBLAS picked at start-up, e.g. "Haswell" or "Cooperlake". Printed by every benchmark.
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// `C = alpha * op(A) * op(B) + beta * C`, row-major.
    /// A is (M, K) (or (K, M) transposed), B is (K, N) (or (N, K) transposed), C is (M, N).
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

/// The compute core's own data-parallel loops (im2col, pooling, element-wise passes).
public enum Parallel {
    /// Number of threads for the core's own loops; set together with `BLAS.setThreads` by `Compute.configure`.
    public static var threads: Int {
        get { threadCount.load(ordering: .relaxed) }
        set { threadCount.store(newValue, ordering: .relaxed) }
    }
    static let threadCount = Atomic(1)

    /// Runs `body` over `0..<count` split into contiguous chunks, one per thread. The split depends only on
    /// `count` and `threads`, so results are deterministic.
    @inline(__always)
    public static func forEach(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = min(threads, max(1, count / max(1, minimumPerThread)))
        if t <= 1 || count <= 1 {
            body(0 ..< count)
            return
        }
        // concurrentPerform returns when every chunk has run, so `body` never outlives this call; chunks are disjoint.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: t) { i in
            let lo = count * i / t, hi = count * (i + 1) / t
            if lo < hi { body(lo ..< hi) }
        }
    }
}

/// Thread configuration for the whole compute core.
public enum Compute {
    /// Uses `threads` threads both for OpenBLAS and for the core's own loops.
    public static func configure(threads: Int) {
        let n = max(1, threads)
        BLAS.setThreads(n)
        Parallel.threads = n
    }
}
