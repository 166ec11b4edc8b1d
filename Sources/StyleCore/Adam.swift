import Foundation

/// Adam (Kingma & Ba 2015) with bias correction; eps = 1e-8.
public final class Adam: Optimizer {
    public let learningRate: Float, beta1: Float, beta2: Float
    let epsilon: Float = 1e-8
    var m: [Float], v: [Float], gradient: [Float]
    var t = 0

    public init(count: Int, learningRate: Float = 2, beta1: Float = 0.9, beta2: Float = 0.999) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        m = [Float](repeating: 0, count: count)
        v = m
        gradient = m
    }

    public func step(_ x: UnsafeMutablePointer<Float>, count: Int, objective: ObjectiveFunction) -> Double {
        precondition(count == m.count)
        let loss = gradient.withUnsafeMutableBufferPointer { objective(UnsafePointer(x), $0.baseAddress!) }
        t += 1
        let c1 = 1 - Float(pow(Double(beta1), Double(t))), c2 = 1 - Float(pow(Double(beta2), Double(t)))
        let stepSize = learningRate / c1
        for i in 0 ..< count {
            let g = gradient[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            x[i] -= stepSize * m[i] / ((v[i] / c2).squareRoot() + epsilon)
        }
        return loss
    }
}
