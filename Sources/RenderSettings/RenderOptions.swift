import Foundation

/// Options of one optimisation run.
public struct RenderOptions: Sendable, Equatable, Codable {
    public var iterations = 300
    public var optimizer: OptimizerKind = .lbfgs()
    public var loss = LossConfig()
    /// Stop early when |f_prev − f| / |f_prev| falls below this (0 disables).
    public var relativeTolerance = 0.0
    public init() {}

    /// What a user gets without options: `LossConfig.recommended`, L-BFGS, 300 iterations.
    public static var recommended: RenderOptions {
        var options = RenderOptions()
        options.loss = .recommended
        return options
    }
}

/// Which optimizer a render uses, with its options.
public enum OptimizerKind: Sendable, Equatable, Codable {
    /// L-BFGS with `history` correction pairs and step size `learningRate` (Torch's fixed-step scheme).
    case lbfgs(history: Int = 10, learningRate: Float = 1)
    /// Adam with learning rate and betas.
    case adam(learningRate: Float = 2, beta1: Float = 0.9, beta2: Float = 0.999)

    /// Correction pairs L-BFGS keeps (0 for Adam): what its memory grows with.
    public var lbfgsHistory: Int { if case let .lbfgs(history, _) = self { return history } else { return 0 } }

}

/// How a network downsamples between its blocks: max (the VGG19 it was trained with) or average (smoother, Gatys et al.).
public enum PoolingKind: String, Sendable, CaseIterable, Codable { case max, average }
