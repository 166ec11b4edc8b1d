import Foundation

/// Precomputed Lanczos-3 weights mapping one axis of `inputCount` samples to `outputCount` samples.
///
/// Output sample `i` is `sum(weights[i * taps + k] * input[indices[i * taps + k]])` for `k` in `0..<taps`. When
/// shrinking, the kernel is stretched by the inverse scale factor (so it averages every input sample it covers,
/// which antialiases); when enlarging it keeps its natural 3-sample radius. Indices outside the input are clamped
/// to the edge and each output's weights sum to 1.
struct ResampleTable {
    /// The Lanczos window radius.
    static let radius = 3.0

    let inputCount: Int
    let outputCount: Int
    /// Taps per output sample (unused trailing taps have weight 0).
    let taps: Int
    /// `outputCount * taps` clamped input indices.
    let indices: [Int32]
    /// `outputCount * taps` normalised weights.
    let weights: [Float]

    init(inputCount: Int, outputCount: Int) {
        precondition(inputCount > 0 && outputCount > 0, "resampling needs non-empty axes")
        self.inputCount = inputCount
        self.outputCount = outputCount
        let scale = Double(outputCount) / Double(inputCount)
        let filterScale = min(scale, 1)
        let support = Self.radius / filterScale
        let taps = Int((2 * support).rounded(.down)) + 1
        self.taps = taps
        var indices = [Int32](repeating: 0, count: outputCount * taps)
        var weights = [Float](repeating: 0, count: outputCount * taps)
        var scratch = [Double](repeating: 0, count: taps)
        for i in 0 ..< outputCount {
            // Centre of output sample i in input sample coordinates (sample j is centred at j).
            let center = (Double(i) + 0.5) / scale - 0.5
            let first = Int((center - support).rounded(.up))
            var total = 0.0
            for k in 0 ..< taps {
                let w = Self.lanczos((Double(first + k) - center) * filterScale)
                scratch[k] = w
                total += w
            }
            let base = i * taps
            for k in 0 ..< taps {
                indices[base + k] = Int32(min(max(first + k, 0), inputCount - 1))
            }
            if abs(total) < 1e-12 {
                // Cannot happen for Lanczos-3 with this support, but never divide by zero: fall back to nearest.
                weights[base] = 1
                indices[base] = Int32(min(max(Int(center.rounded()), 0), inputCount - 1))
            } else {
                for k in 0 ..< taps { weights[base + k] = Float(scratch[k] / total) }
            }
        }
        self.indices = indices
        self.weights = weights
    }

    init(inputCount: Int, outputCount: Int, taps: Int, indices: [Int32], weights: [Float]) {
        (self.inputCount, self.outputCount, self.taps, self.indices, self.weights) = (
            inputCount, outputCount, taps, indices, weights
        )
    }

    /// The table of `outputs` alone, over just the inputs they read (`inputs`, indices shifted to start at 0).
    func slice(_ outputs: Range<Int>) -> (table: ResampleTable, inputs: Range<Int>) {
        let part = indices[outputs.lowerBound * taps ..< outputs.upperBound * taps]
        let lo = Int(part.min()!), hi = Int(part.max()!)
        let table = ResampleTable(
            inputCount: hi - lo + 1, outputCount: outputs.count, taps: taps,
            indices: part.map { $0 - Int32(lo) },
            weights: Array(weights[outputs.lowerBound * taps ..< outputs.upperBound * taps]))
        return (table, lo ..< hi + 1)
    }

    /// The Lanczos-3 kernel: `sinc(x) * sinc(x / 3)` for `|x| < 3`, else 0.
    static func lanczos(_ x: Double) -> Double {
        let ax = abs(x)
        if ax < 1e-9 { return 1 }
        if ax >= radius { return 0 }
        let px = Double.pi * x
        return radius * sin(px) * sin(px / radius) / (px * px)
    }
}
