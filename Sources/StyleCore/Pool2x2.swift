/// 2x2 pooling with stride 2, floor mode (a trailing odd row or column is dropped, as in PyTorch's default).
public enum Pool2x2 {
    public enum Kind: String, Sendable, CaseIterable, Codable { case max, average }

    /// Output size for an input extent.
    public static func outputSize(_ n: Int) -> Int { n / 2 }

    /// out (C, H/2, W/2) = pool(input (C, H, W)).
    public static func forward(_ kind: Kind, out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                               channels c: Int, height h: Int, width w: Int) {
        let oh = h / 2, ow = w / 2
        Parallel.forEach(c) { range in
            for ch in range {
                let src = input + ch * h * w, dst = out + ch * oh * ow
                for y in 0 ..< oh {
                    let a = src + 2 * y * w, b = a + w, d = dst + y * ow
                    for x in 0 ..< ow {
                        let p = a[2 * x], q = a[2 * x + 1], r = b[2 * x], s = b[2 * x + 1]
                        d[x] = kind == .max ? max(max(p, q), max(r, s)) : 0.25 * (p + q + r + s)
                    }
                }
            }
        }
    }

    /// dInput (C, H, W) = gradient of the pooling, overwritten. Max pooling routes each output gradient to
    /// the first input (row-major within the window) that equals the maximum, as PyTorch does.
    /// - dOut: (C, H/2, W/2); input/output: the forward pass's tensors.
    public static func backward(_ kind: Kind, dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, output: UnsafePointer<Float>,
                                channels c: Int, height h: Int, width w: Int) {
        let oh = h / 2, ow = w / 2
        Parallel.forEach(c) { range in
            for ch in range {
                let src = input + ch * h * w, dst = dInput + ch * h * w
                let g = dOut + ch * oh * ow, o = output + ch * oh * ow
                dst.update(repeating: 0, count: h * w)
                for y in 0 ..< oh {
                    for x in 0 ..< ow {
                        let i0 = 2 * y * w + 2 * x
                        let gv = g[y * ow + x]
                        if kind == .average {
                            let q = 0.25 * gv
                            dst[i0] = q; dst[i0 + 1] = q; dst[i0 + w] = q; dst[i0 + w + 1] = q
                        } else {
                            let m = o[y * ow + x]
                            if src[i0] == m { dst[i0] = gv }
                            else if src[i0 + 1] == m { dst[i0 + 1] = gv }
                            else if src[i0 + w] == m { dst[i0 + w] = gv }
                            else { dst[i0 + w + 1] = gv }
                        }
                    }
                }
            }
        }
    }
}
