import Foundation

/// Progress of a run, reported after every iteration.
public struct RenderProgress: Sendable {
    public var iteration: Int
    public var iterations: Int
    public var loss: Double
    public var bestLoss: Double
    public var elapsed: Double
}

/// How the optimisation variable starts.
public enum Initialisation: Sendable, Equatable {
    case content
    case noise
    /// `(1 − noise)·image + noise·random`, e.g. the upsampled result of a coarser level or a previous frame.
    case image(CaffeImage, noise: Float)
}

/// A deterministic random source (SplitMix64), so a seed always gives the same noise.
public struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// n values uniform in [−amplitude, amplitude).
    public mutating func uniform(_ n: Int, amplitude: Float) -> [Float] {
        (0 ..< n).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * amplitude }
    }
}

/// Runs the optimizer on a `GatysObjective`, keeping the best-loss image.
public enum StyleOptimization {
    /// Amplitude of noise initialisation in Caffe units (pixels 0...255 around the ImageNet mean).
    public static let noiseAmplitude: Float = 128

    /// The starting point for `init` at the objective's size.
    public static func initialImage(_ initialisation: Initialisation, content: CaffeImage, seed: UInt64) -> CaffeImage {
        var rng = SeededRandom(seed: seed)
        switch initialisation {
        case .content:
            return content
        case .noise:
            return CaffeImage(
                width: content.width, height: content.height,
                pixels: rng.uniform(content.pixels.count, amplitude: noiseAmplitude))
        case let .image(image, noise):
            precondition(image.width == content.width && image.height == content.height)
            guard noise > 0 else { return image }
            let r = rng.uniform(image.pixels.count, amplitude: noiseAmplitude)
            return CaffeImage(
                width: image.width, height: image.height,
                pixels: zip(image.pixels, r).map { (1 - noise) * $0 + noise * $1 })
        }
    }

    /// A loss this many times the best seen counts as divergence (see `run`).
    public static let divergenceFactor = 1.5

    /// Optimises from `start`; returns the best image seen, its loss and the iterations run.
    /// `checkpoint`, when given, receives the best image every `checkpointEvery` iterations. With `seconds`, the
    /// run also stops after the first iteration that ends past that much wall time (a benchmark's time budget);
    /// it stops after any iteration at which `stop` returns true (a farm worker's revoked lease).
    public static func run(
        objective: GatysObjective, start: CaffeImage, options: RenderOptions, seconds: Double? = nil,
        stop: () -> Bool = { false },
        checkpointEvery: Int = 0, checkpoint: ((Int, CaffeImage) -> Void)? = nil,
        progress: (RenderProgress) -> Void = { _ in }
    ) -> (image: CaffeImage, loss: Double, iterations: Int) {
        var x = start.pixels
        var best = x
        var bestLoss = Double.infinity
        let n = x.count
        var optimizer = options.optimizer.make(count: n)
        let clock = ContinuousClock.now
        var stopping = StoppingRule(relativeDecrease: options.relativeTolerance)
        var done = 0
        for it in 1 ... max(1, options.iterations) {
            let loss = x.withUnsafeMutableBufferPointer { xp in
                optimizer.step(xp.baseAddress!, count: n) { at, g in
                    let l = objective.evaluate(at, gradient: g).total
                    if l < bestLoss {
                        bestLoss = l
                        best.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: at, count: n) }
                    }
                    return l
                }
            }
            done = it
            let elapsed = clock.elapsedSeconds
            progress(
                RenderProgress(
                    iteration: it, iterations: options.iterations, loss: loss, bestLoss: bestLoss, elapsed: elapsed))
            if let seconds, elapsed >= seconds { break }
            if stop() { break }
            if checkpointEvery > 0, it % checkpointEvery == 0, let checkpoint {
                checkpoint(it, CaffeImage(width: start.width, height: start.height, pixels: best))
            }
            if ProcessInfo.processInfo.environment["STYLEFARM_TRACE_LOSS"] != nil {
                print("iteration \(it) loss \(loss)")
            }
            // L-BFGS without a line search (and Adam with a large rate) can overshoot and diverge. When the
            // loss climbs well above the best seen, go back to the best image and restart the optimizer,
            // whose first step is small again (L-BFGS scales it by 1/‖g‖₁).
            if !loss.isFinite || loss > Self.divergenceFactor * bestLoss {
                best.withUnsafeBufferPointer { b in
                    x.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: b.baseAddress!, count: n) }
                }
                optimizer = options.optimizer.make(count: n)
                stopping.restart()
                continue
            }
            if stopping.stop(afterBest: bestLoss) { break }
        }
        // The last step moved x past the last evaluated point: evaluate it once so it can win.
        let last = x.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil).total }
        if last < bestLoss {
            bestLoss = last
            best = x
        }
        return (CaffeImage(width: start.width, height: start.height, pixels: best), bestLoss, done)
    }
}
