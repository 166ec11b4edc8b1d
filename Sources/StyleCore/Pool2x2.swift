/// 2x2 pooling with stride 2, floor mode (a trailing odd row or column is dropped, as in PyTorch's default).
public enum Pool2x2 {
    public typealias Kind = PoolingKind

    /// Output size for an input extent.
    public static func outputSize(_ n: Int) -> Int { n / 2 }

    /// out (C, H/2, W/2) = pool(input (C, H, W)). For max pooling, `argmax` (C, H/2, W/2), when given, records
    /// which input of each window won: 0…3 row-major, the first that equals the maximum, as PyTorch routes ties.
    public static func forward(
        _ kind: Kind, out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        argmax: UnsafeMutablePointer<UInt8>? = nil, channels c: Int, height h: Int, width w: Int
    ) {
        let oh = h / 2, ow = w / 2
        Parallel.forEach(c) { range in
            for ch in range {
                let src = input + ch * h * w, dst = out + ch * oh * ow, arg = argmax.map { $0 + ch * oh * ow }
                for y in 0 ..< oh {
                    let a = src + 2 * y * w, b = a + w, d = dst + y * ow
                    for x in 0 ..< ow {
                        let p = a[2 * x], q = a[2 * x + 1], r = b[2 * x], s = b[2 * x + 1]
                        guard kind == .max else { d[x] = 0.25 * (p + q + r + s); continue }
                        let m = max(max(p, q), max(r, s))
                        d[x] = m
                        arg?[y * ow + x] = p == m ? 0 : q == m ? 1 : r == m ? 2 : 3
                    }
                }
            }
        }
    }

    /// dInput (C, H, W) = gradient of the pooling, overwritten or, with `accumulate`, added. Max pooling
    /// routes each output gradient to the input its forward pass recorded in `argmax`.
    /// - dOut: (C, H/2, W/2); argmax: the forward pass's record (max pooling only).
    public static func backward(
        _ kind: Kind, dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        argmax: UnsafePointer<UInt8>?, channels c: Int, height h: Int, width w: Int,
        accumulate: Bool = false
    ) {
        precondition(kind == .average || argmax != nil, "max pooling's backward pass needs the forward argmax")
        let oh = h / 2, ow = w / 2
        Parallel.forEach(c) { range in
            for ch in range {
                let dst = dInput + ch * h * w, g = dOut + ch * oh * ow
                if !accumulate { dst.update(repeating: 0, count: h * w) }
                for y in 0 ..< oh {
                    for x in 0 ..< ow {
                        let i0 = 2 * y * w + 2 * x, gv = g[y * ow + x]
                        if kind == .average {
                            let q = 0.25 * gv
                            dst[i0] += q; dst[i0 + 1] += q; dst[i0 + w] += q; dst[i0 + w + 1] += q
                        } else {
                            let k = Int(argmax![ch * oh * ow + y * ow + x])
                            dst[i0 + (k >> 1) * w + (k & 1)] += gv
                        }
                    }
                }
            }
        }
    }
}
