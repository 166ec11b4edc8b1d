/// 3x3 convolution, stride 1, zero padding 1, as im2col + sgemm, chunked by output rows so the column
/// buffer stays small (a full im2col of conv1_2 at 512x512 would be 604 MiB).
///
/// The backward pass to the input is its adjoint: one sgemm with the weights transposed (C*9 rows, which OpenBLAS's
/// kernels fill even for the first layer's 3 input channels) and `col2im`. Weight gradients are not needed: style
/// transfer optimises the image, not the network.
public enum Conv3x3 {
    /// Floats of column buffer needed for a convolution with `inChannels` inputs on `width`-wide rows and
    /// a chunk budget of `maxColumnFloats`.
    public static func columnFloats(inChannels: Int, height: Int, width: Int, maxColumnFloats: Int) -> Int {
        inChannels * 9
            * rowsPerChunk(inChannels: inChannels, height: height, width: width, maxColumnFloats: maxColumnFloats)
            * width
    }

    static func rowsPerChunk(inChannels: Int, height: Int, width: Int, maxColumnFloats: Int) -> Int {
        max(1, min(height, maxColumnFloats / max(1, inChannels * 9 * width)))
    }

    /// out = conv(input, weights) + bias (out += … with `accumulate`).
    /// - input: (C, H, W); weights: (K, C*9) row-major, i.e. OIHW flattened; bias: (K) or nil; out: (K, H, W);
    ///   columns: scratch of at least `columnFloats(...)` floats.
    public static func forward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
        columns: UnsafeMutablePointer<Float>, maxColumnFloats: Int, accumulate: Bool = false
    ) {
        let rows = rowsPerChunk(inChannels: c, height: h, width: w, maxColumnFloats: maxColumnFloats)
        var r0 = 0
        while r0 < h {
            let r1 = min(h, r0 + rows)
            let n = (r1 - r0) * w
            im2col(columns: columns, input: input, channels: c, height: h, width: w, rowStart: r0, rowEnd: r1)
            // (K, n) = (K, C*9) x (C*9, n), written (or added) into columns r0*w ..< r1*w of out (ldc = H*W).
            BLAS.parallelSgemm(
                m: k, n: n, k: c * 9, a: weights, lda: c * 9, b: columns, ldb: n, beta: accumulate ? 1 : 0,
                c: out + r0 * w, ldc: h * w)
            r0 = r1
        }
        if let bias {
            let hw = h * w
            Parallel.forEach(k) { range in
                for ch in range {
                    let b = bias[ch], p = out + ch * hw
                    for i in 0 ..< hw { p[i] += b }
                }
            }
        }
    }

    /// dInput = the adjoint of `forward` (without bias) applied to dOut: the gradient with respect to the input
    /// (overwritten, or added with `accumulate`). Chunk by chunk of output rows, columns (C*9, n) = Wᵀ · dOut
    /// (one sgemm with transposed A, M = C*9), then `col2im` adds each column row back where `im2col` read it.
    /// - dOut: (K, H, W); weights: (K, C*9) as in `forward`; dInput: (C, H, W); columns: `columnFloats(inChannels: C, …)`.
    public static func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
        columns: UnsafeMutablePointer<Float>, maxColumnFloats: Int, accumulate: Bool = false
    ) {
        if !accumulate { dInput.update(repeating: 0, count: c * h * w) }
        let rows = rowsPerChunk(inChannels: c, height: h, width: w, maxColumnFloats: maxColumnFloats)
        var r0 = 0
        while r0 < h {
            let r1 = min(h, r0 + rows)
            let n = (r1 - r0) * w
            // (C*9, n) = (K, C*9)ᵀ x (K, n): columns r0*w ..< r1*w of dOut (ldb = H*W).
            BLAS.parallelSgemm(
                transA: true, m: c * 9, n: n, k: k, a: weights, lda: c * 9, b: dOut + r0 * w, ldb: h * w,
                c: columns, ldc: n)
            col2im(dInput: dInput, columns: columns, channels: c, height: h, width: w, rowStart: r0, rowEnd: r1)
            r0 = r1
        }
    }

    /// The adjoint of `im2col`: dInput[c, y+ky-1, x+kx-1] += columns[c*9 + ky*3 + kx, (y-rowStart)*W + x]. Each input
    /// row is summed by one thread, its nine contributions in a fixed order, so every thread count gives the same bits.
    static func col2im(
        dInput: UnsafeMutablePointer<Float>, columns: UnsafePointer<Float>, channels c: Int,
        height h: Int, width w: Int, rowStart r0: Int, rowEnd r1: Int
    ) {
        let n = (r1 - r0) * w
        // Input rows r0-1 ... r1 receive from output rows r0 ..< r1.
        let first = max(0, r0 - 1), last = min(h - 1, r1), span = last - first + 1
        Parallel.forEach(c * span, minimumPerThread: 4) { range in
            for item in range {
                let ch = item / span, sy = first + item % span
                let d = dInput + (ch * h + sy) * w
                for ky in 0 ..< 3 {
                    let y = sy - ky + 1
                    guard y >= r0, y < r1 else { continue }
                    let base = columns + (ch * 9 + ky * 3) * n + (y - r0) * w
                    let left = base, centre = base + n, right = base + 2 * n
                    // kx = 0 read input column x-1: output column sx+1 feeds input column sx; kx = 2 the other way.
                    for sx in 0 ..< w - 1 { d[sx] += left[sx + 1] }
                    for sx in 0 ..< w { d[sx] += centre[sx] }
                    for sx in 1 ..< max(1, w) { d[sx] += right[sx - 1] }
                }
            }
        }
    }

    /// columns (C*9, (rowEnd-rowStart)*W): row (c*9 + ky*3 + kx) holds input[c, y+ky-1, x+kx-1] (zero outside).
    static func im2col(
        columns: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels c: Int,
        height h: Int, width w: Int, rowStart r0: Int, rowEnd r1: Int
    ) {
        let n = (r1 - r0) * w
        Parallel.forEach(c * 9, minimumPerThread: 4) { range in
            for r in range {
                let ch = r / 9, ky = (r % 9) / 3, kx = r % 3
                let dst = columns + r * n
                let plane = input + ch * h * w
                for y in r0 ..< r1 {
                    let d = dst + (y - r0) * w
                    let sy = y + ky - 1
                    if sy < 0 || sy >= h {
                        d.update(repeating: 0, count: w)
                        continue
                    }
                    let s = plane + sy * w
                    switch kx {
                    case 0:
                        d[0] = 0
                        if w > 1 { (d + 1).update(from: s, count: w - 1) }
                    case 1:
                        d.update(from: s, count: w)
                    default:
                        if w > 1 { d.update(from: s + 1, count: w - 1) }
                        d[w - 1] = 0
                    }
                }
            }
        }
    }
}
