import Foundation
import StyleCore
import Testing

/// Finite-difference gradient checking (central differences) on sampled coordinates.
enum GradientCheck {
    /// Compares `analytic` with (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h on `samples` coordinates (all if fewer).
    /// Returns the relative error ‖numeric − analytic‖ / ‖numeric‖ over the sampled coordinates.
    static func relativeError(
        x: [Float], analytic: [Float], h: Float = 1e-2, samples: Int = 40, seed: UInt64 = 3,
        f: ([Float]) -> Double
    ) -> Double {
        precondition(x.count == analytic.count)
        var rng = SeededRandom(seed: seed)
        let indices =
            x.count <= samples ? Array(x.indices) : (0 ..< samples).map { _ in Int(rng.next() % UInt64(x.count)) }
        var diff = 0.0, norm = 0.0
        var probe = x
        for i in indices {
            probe[i] = x[i] + h
            let up = f(probe)
            probe[i] = x[i] - h
            let down = f(probe)
            probe[i] = x[i]
            let numeric = (up - down) / Double(2 * h)
            diff += (numeric - Double(analytic[i])) * (numeric - Double(analytic[i]))
            norm += numeric * numeric
        }
        return (diff / max(norm, 1e-300)).squareRoot()
    }

    /// Random values in [−amplitude, amplitude).
    static func random(_ n: Int, seed: UInt64, amplitude: Float = 1) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return rng.uniform(n, amplitude: amplitude)
    }

    /// Σ r·y in Double.
    static func weightedSum(_ y: [Float], _ r: [Float]) -> Double {
        zip(y, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
}

extension Array where Element == Float {
    func withPointers<R>(_ other: inout [Float], _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> R) -> R
    {
        withUnsafeBufferPointer { a in
            other.withUnsafeMutableBufferPointer { b in body(a.baseAddress!, b.baseAddress!) }
        }
    }
}
