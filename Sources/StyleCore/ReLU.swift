/// Rectified linear unit, applied in place. The backward pass needs only the forward output.
public enum ReLU {
    /// x = max(x, 0). x: (n)
    public static func forward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.forEach(n, minimumPerThread: 1 << 16) { r in
            for i in r where x[i] < 0 { x[i] = 0 }
        }
    }

    /// dx = dy where y > 0, else 0; in place on the gradient. y: forward output (n); grad: (n)
    public static func backward(_ grad: UnsafeMutablePointer<Float>, output y: UnsafePointer<Float>, count n: Int) {
        Parallel.forEach(n, minimumPerThread: 1 << 16) { r in
            for i in r where !(y[i] > 0) { grad[i] = 0 }
        }
    }
}
