/// An objective for the optimizers: fills the gradient at x and returns the loss.
public typealias ObjectiveFunction = (_ x: UnsafePointer<Float>, _ gradient: UnsafeMutablePointer<Float>) -> Double

/// A first-order optimizer that takes one step per call, with one objective evaluation per step.
public protocol Optimizer: AnyObject {
    /// Advances x by one iteration. Returns the loss at x *before* the step (the value just evaluated).
    func step(_ x: UnsafeMutablePointer<Float>, count: Int, objective: ObjectiveFunction) -> Double
}

/// Which optimizer a render uses, with its options.
public enum OptimizerKind: Sendable, Equatable, Codable {
    /// L-BFGS with `history` correction pairs and step size `learningRate` (Torch's fixed-step scheme).
    case lbfgs(history: Int = 10, learningRate: Float = 1)
    /// Adam with learning rate and betas.
    case adam(learningRate: Float = 2, beta1: Float = 0.9, beta2: Float = 0.999)

    /// Correction pairs L-BFGS keeps (0 for Adam): what its memory grows with.
    public var lbfgsHistory: Int { if case let .lbfgs(history, _) = self { return history } else { return 0 } }

    public func make(count: Int) -> any Optimizer {
        switch self {
        case let .lbfgs(history, lr): return LBFGS(count: count, history: history, learningRate: lr)
        case let .adam(lr, b1, b2): return Adam(count: count, learningRate: lr, beta1: b1, beta2: b2)
        }
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var s = 0.0
    for i in 0 ..< n { s += Double(a[i]) * Double(b[i]) }
    return s
}
