/// Rectified linear unit, applied in place. The backward pass needs only where the output was positive,
/// which the forward pass records as one bit per element.
public enum ReLU {
    /// Words of mask for n elements.
    public static func maskWords(_ n: Int) -> Int { (n + 63) / 64 }

    /// x = max(x, 0); bit i of the mask (word i / 64, bit i % 64) is set where x > 0.
    /// x: (n); mask: (`maskWords(n)`)
    public static func forward(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<UInt64>, count n: Int) {
        Parallel.forEach(maskWords(n), minimumPerThread: 1 << 10) { words in
            for word in words {
                let start = word * 64, end = min(n, start + 64)
                var bits: UInt64 = 0
                for i in start ..< end {
                    let positive = x[i] > 0
                    if x[i] < 0 { x[i] = 0 }  // NaN stays NaN, so a diverged render shows in the loss
                    bits |= (positive ? 1 : 0) << UInt64(i - start)
                }
                mask[word] = bits
            }
        }
    }

    /// dx = dy where the output was positive, else 0; in place on the gradient (n).
    public static func backward(_ grad: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt64>, count n: Int) {
        Parallel.forEach(maskWords(n), minimumPerThread: 1 << 10) { words in
            for word in words {
                let start = word * 64, end = min(n, start + 64), bits = mask[word]
                if bits == .max && end - start == 64 { continue }
                for i in start ..< end where bits & (1 << UInt64(i - start)) == 0 { grad[i] = 0 }
            }
        }
    }
}
