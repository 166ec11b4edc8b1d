import Foundation

/// Options of one optimisation run.
public struct RenderOptions: Sendable, Equatable, Codable {
    public var iterations = 300
    public var optimizer: OptimizerKind = .lbfgs()
    public var loss = LossConfig()
    /// Stop early when the best loss fell by less than this fraction over the last `StoppingRule.window` iterations
    /// (0: run every iteration).
    public var relativeTolerance = 0.0
    public init() {}

    /// The stopping rule's default: stop when the best loss fell by less than 0.5% over 20 iterations. Chosen from
    /// measured tile loss curves (Docs/performance.md, "No wasted iterations"): at the default iteration counts every
    /// tile of the guard's render still falls by 2% or more per 20 iterations at its last one, so this threshold
    /// stops only a tile that has truly stalled (a flat sky, a tile its start already fits) and costs a tile at most
    /// about 0.5% per window it skips.
    public static let defaultTolerance = 0.005

    /// What a user gets without options: `LossConfig.recommended`, L-BFGS, 300 iterations, the stopping rule at
    /// `defaultTolerance`.
    public static var recommended: RenderOptions {
        var options = RenderOptions()
        options.loss = .recommended
        options.relativeTolerance = defaultTolerance
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
