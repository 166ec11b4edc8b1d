/// 3x3 convolution, stride 1, zero padding 1, as im2col + sgemm, chunked by output rows so the column
/// buffer stays small (a full im2col of conv1_2 at 512x512 would be 604 MiB).
///
/// The backward pass to the input is the same operation: a 3x3 convolution of the output gradient with the
/// kernels flipped and the channel axes swapped (`Conv3x3.backwardKernels`). Weight gradients are not needed:
/// style transfer optimises the image, not the network.
public enum Conv3x3 {
    /// Floats of column buffer needed for a convolution with `inChannels` inputs on `width`-wide rows and
    /// a chunk budget of `maxColumnFloats`.
    public static func columnFloats(inChannels: Int, height: Int, width: Int, maxColumnFloats: Int) -> Int {
        inChannels * 9 * rowsPerChunk(inChannels: inChannels, height: height, width: width, maxColumnFloats: maxColumnFloats) * width
    }

    static func rowsPerChunk(inChannels: Int, height: Int, width: Int, maxColumnFloats: Int) -> Int {
        max(1, min(height, maxColumnFloats / max(1, inChannels * 9 * width)))
    }

    /// out = conv(input, weights) + bias (out += … with `accumulate`).
    /// - input: (C, H, W); weights: (K, C*9) row-major, i.e. OIHW flattened; bias: (K) or nil; out: (K, H, W);
    ///   columns: scratch of at least `columnFloats(...)` floats.
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                               weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
                               columns: UnsafeMutablePointer<Float>, maxColumnFloats: Int, accumulate: Bool = false) {
        let rows = rowsPerChunk(inChannels: c, height: h, width: w, maxColumnFloats: maxColumnFloats)
        var r0 = 0
        while r0 < h {
            let r1 = min(h, r0 + rows)
            let n = (r1 - r0) * w
            im2col(columns: columns, input: input, channels: c, height: h, width: w, rowStart: r0, rowEnd: r1)
            // (K, n) = (K, C*9) x (C*9, n), written (or added) into columns r0*w ..< r1*w of out (ldc = H*W).
            BLAS.parallelSgemm(m: k, n: n, k: c * 9, a: weights, lda: c * 9, b: columns, ldb: n, beta: accumulate ? 1 : 0,
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

    /// dInput = conv(dOut, backwardKernels(weights)): the gradient with respect to the input (overwritten, or
    /// added with `accumulate`).
    /// - dOut: (K, H, W); backwardWeights: (C, K*9); dInput: (C, H, W).
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                backwardWeights: UnsafePointer<Float>,
                                inChannels c: Int, outChannels k: Int, height h: Int, width w: Int,
                                columns: UnsafeMutablePointer<Float>, maxColumnFloats: Int, accumulate: Bool = false) {
        forward(out: dInput, input: dOut, weights: backwardWeights, bias: nil, inChannels: k, outChannels: c,
                height: h, width: w, columns: columns, maxColumnFloats: maxColumnFloats, accumulate: accumulate)
    }

    /// Rearranges OIHW weights (K, C, 3, 3) into the kernels of the input-gradient convolution:
    /// (C, K, 3, 3) with each kernel rotated by 180 degrees.
    public static func backwardKernels(_ weights: [Float], inChannels c: Int, outChannels k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: weights.count)
        for o in 0 ..< k {
            for i in 0 ..< c {
                for t in 0 ..< 9 { out[(i * k + o) * 9 + (8 - t)] = weights[(o * c + i) * 9 + t] }
            }
        }
        return out
    }

    /// columns (C*9, (rowEnd-rowStart)*W): row (c*9 + ky*3 + kx) holds input[c, y+ky-1, x+kx-1] (zero outside).
    static func im2col(columns: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels c: Int,
                       height h: Int, width w: Int, rowStart r0: Int, rowEnd r1: Int) {
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
