import COpenBLAS
import Foundation
import Synchronization

/// The few OpenBLAS entry points the compute core uses, with its threading controls.
public enum BLAS {
    /// Sets OpenBLAS's own thread count. The compute core keeps it at 1 and runs its sgemms on its own threads
    /// (`parallelSgemm`, Winograd's batches): OpenBLAS's threads would otherwise spin, between two calls, on the
    /// cores the core's own loops need.
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
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

extension BLAS {
    /// At most this many blocks per `parallelSgemm` (enough to keep 16 threads busy), each at least `minimumRows`
    /// rows or `minimumColumns` columns, so that packing the other operand once per block stays cheap.
    static let maximumBlocks = 16, minimumRows = 32, minimumColumns = 512

    /// `sgemm` on the core's own threads: C is cut into blocks of rows (when M is the larger side) or of columns,
    /// each one single-threaded OpenBLAS call. The blocks depend only on the shape, never on the thread count, so
    /// every thread count computes the same bits.
    public static func parallelSgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let byRows = m * minimumColumns >= n * minimumRows
        let extent = byRows ? m : n, minimum = byRows ? minimumRows : minimumColumns
        let blocks = max(1, min(maximumBlocks, extent / minimum))
        let block = (extent + blocks - 1) / blocks
        Parallel.forEach(blocks) { range in
            for i in range {
                let lo = i * block, hi = min(extent, lo + block)
                if lo >= hi { continue }
                if byRows {
                    // Rows lo..<hi of op(A) and C.
                    sgemm(
                        transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                        a: a + (transA ? lo : lo * lda), lda: lda,
                        b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
                } else {
                    // Columns lo..<hi of op(B) and C.
                    sgemm(
                        transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                        b: b + (transB ? lo * ldb : lo), ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
            }
        }
    }
}

/// The compute core's own data-parallel loops (im2col, pooling, element-wise passes).
public enum Parallel {
    /// Number of threads for the core's own loops and sgemms; set by `Compute.configure`.
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
    /// Runs the core's loops and sgemms on `threads` threads of its own; OpenBLAS itself stays single-threaded.
    public static func configure(threads: Int) {
        BLAS.setThreads(1)
        Parallel.threads = max(1, threads)
    }
}
