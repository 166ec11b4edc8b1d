/// An objective for the optimizers: fills the gradient at x and returns the loss.
public typealias ObjectiveFunction = (_ x: UnsafePointer<Float>, _ gradient: UnsafeMutablePointer<Float>) -> Double

/// A first-order optimizer that takes one step per call, with one objective evaluation per step.
public protocol Optimizer: AnyObject {
    /// Advances x by one iteration. Returns the loss at x *before* the step (the value just evaluated).
    func step(_ x: UnsafeMutablePointer<Float>, count: Int, objective: ObjectiveFunction) -> Double
}

extension OptimizerKind {
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
