/// Rectified linear unit, applied in place. The backward pass needs only where the output was positive,
/// which the forward pass records as one bit per element: bit i % 64 of word i / 64.
///
/// Both passes work on whole 64-element words in vectors: forward, a lane's bit is its place value (1, 2, 4,
/// … 32768) selected by the comparison and summed; backward, each byte of mask looks up its 8 lanes' mask in a
/// table. The last, partial word goes element by element.
public enum ReLU {
    /// Words of mask for n elements.
    public static func maskWords(_ n: Int) -> Int { (n + 63) / 64 }

    typealias Lanes = SIMD16<Float>
    static let placeValues = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
    /// For each byte of mask, the lanes of 8 elements whose bit is clear.
    static let zeroMasks: [SIMDMask<SIMD8<Int32>>] = (0 ..< 256).map { byte in
        var m = SIMDMask<SIMD8<Int32>>()
        for lane in 0 ..< 8 { m[lane] = byte & (1 << lane) == 0 }
        return m
    }

    /// x = max(x, 0), and the mask of x > 0. x: (n); mask: (`maskWords(n)`)
    public static func forward(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<UInt64>, count n: Int) {
        Parallel.forEach(maskWords(n), minimumPerThread: 1 << 10) { words in
            for word in words {
                let start = word * 64
                guard start + 64 <= n else {
                    var bits: UInt64 = 0
                    for i in start ..< n {
                        if x[i] > 0 { bits |= 1 << UInt64(i - start) }
                        if x[i] < 0 { x[i] = 0 }  // NaN stays NaN, so a diverged render shows in the loss
                    }
                    mask[word] = bits
                    continue
                }
                var bits: UInt64 = 0
                for q in 0 ..< 4 {
                    let p = UnsafeMutableRawPointer(x + start + 16 * q)
                    let v = p.loadUnaligned(as: Lanes.self)
                    let chunk = SIMD16<UInt32>(repeating: 0).replacing(with: placeValues, where: v .> 0).wrappedSum()
                    bits |= UInt64(chunk) << UInt64(16 * q)
                    p.storeBytes(of: v.replacing(with: 0, where: v .< 0), as: Lanes.self)
                }
                mask[word] = bits
            }
        }
    }

    /// dx = dy where the output was positive, else 0; in place on the gradient (n).
    public static func backward(_ grad: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt64>, count n: Int) {
        Parallel.forEach(maskWords(n), minimumPerThread: 1 << 10) { words in
            for word in words {
                let start = word * 64, bits = mask[word]
                guard start + 64 <= n else {
                    for i in start ..< n where bits & (1 << UInt64(i - start)) == 0 { grad[i] = 0 }
                    continue
                }
                if bits == .max { continue }
                zeroMasks.withUnsafeBufferPointer { table in
                    for q in 0 ..< 8 {
                        let p = UnsafeMutableRawPointer(grad + start + 8 * q)
                        let zero = table[Int(truncatingIfNeeded: bits >> UInt64(8 * q)) & 255]
                        p.storeBytes(
                            of: p.loadUnaligned(as: SIMD8<Float>.self).replacing(with: 0, where: zero),
                            as: SIMD8<Float>.self)
                    }
                }
            }
        }
    }
}
