import Foundation
import StyleCore

/// `stylefarm bench`'s measurement of one configuration: VGG19 forward, and forward+backward with the Gatys losses, on
/// a random square image, against OpenBLAS's sgemm peak on the same threads.
public struct PassTiming: Codable, Sendable {
    public var size: Int, threads: Int
    /// Median seconds of a forward pass, and of a forward and backward pass.
    public var forward: Double, forwardBackward: Double
    /// Effective GFLOP/s of the forward and backward pass, and a 2048³ sgemm's on the same threads.
    public var gflops: Double, sgemmPeak: Double
    /// Peak RSS before the sgemm peak's own 48 MiB of matrices.
    public var peakRSSMiB: Double
    /// The OpenBLAS kernel in use.
    public var kernel: String
    public var regions: Int
    /// Per-layer seconds per pass of both convolution algorithms, when asked for.
    public var layers: [LayerTiming]?

    /// The table row `stylefarm bench` prints.
    public var row: String {
        String(
            format: "stylefarm %5d %7d %10.3f %9.3f %8.1f %11.0f%% %13.0f  %@%@", size, threads, forward,
            forwardBackward, gflops,
            100 * gflops / sgemmPeak, peakRSSMiB, kernel, regions > 0 ? "  (\(regions) regions)" : "")
    }
    public static let header =
        "impl       size threads  forward_s  fwdbwd_s  GFLOP/s  %sgemm-peak  peak_rss_MiB  openblas_core  setting"
}

/// One layer's seconds per pass (forward, backward) with im2col and with Winograd.
public struct LayerTiming: Codable, Sendable {
    public var name: String
    public var im2col: [Double], winograd: [Double]

    public var row: String {
        String(format: "  %-8@ %10.4f  %10.4f  %12.4f  %12.4f", name, im2col[0], im2col[1], winograd[0], winograd[1])
    }
    public static let header = "  layer     im2col fwd  im2col bwd  winograd fwd  winograd bwd   (seconds per pass)"
}

public enum PassBenchmark {
    /// Times one configuration in this process, on the threads `Compute.configure` set.
    public static func measure(network: VGG19, size: Int, threads: Int, repeats: Int, regions: Int, layers: Bool)
        -> PassTiming
    {
        var rng = SeededRandom(seed: 1)
        let image = CaffeImage(width: size, height: size, pixels: rng.uniform(3 * size * size, amplitude: 100))
        let style = CaffeImage(width: size, height: size, pixels: rng.uniform(3 * size * size, amplitude: 100))
        var config = LossConfig()
        config.tvWeight = 1
        let targets = GramTargets.compute(network: network, image: style, layers: config.styleLayers.map(\.name))
        let guidance =
            regions > 0 ? StyleGuidance.random(width: size, height: size, count: regions, targets: targets) : nil
        let objective = GatysObjective(
            network: network, config: config, content: image, targets: targets, guidance: guidance)
        var grad = [Float](repeating: 0, count: image.pixels.count)
        let forward = Stopwatch.median(repeats: repeats) {
            image.pixels.withUnsafeBufferPointer { _ = objective.evaluate($0.baseAddress!, gradient: nil) }
        }
        let both = Stopwatch.median(repeats: repeats) {
            image.pixels.withUnsafeBufferPointer { x in
                grad.withUnsafeMutableBufferPointer {
                    _ = objective.evaluate(x.baseAddress!, gradient: $0.baseAddress!)
                }
            }
        }
        let flops = 2 * network.forwardFLOPs(height: size, width: size, depth: objective.arena.depth)
        let rss = Stopwatch.peakRSSMiB()
        return PassTiming(
            size: size, threads: threads, forward: forward, forwardBackward: both, gflops: flops / both / 1e9,
            sgemmPeak: sgemmPeak(), peakRSSMiB: rss, kernel: BLAS.coreName, regions: regions,
            layers: layers
                ? layerTimes(network: network, image: image, targets: targets, config: config, repeats: repeats) : nil)
    }

    /// Per-layer seconds (forward, backward) for im2col and Winograd, means of `repeats` passes.
    static func layerTimes(network: VGG19, image: CaffeImage, targets: GramTargets, config: LossConfig, repeats: Int)
        -> [LayerTiming]
    {
        func profile(_ algorithm: VGG19.Algorithm) -> LayerProfile {
            let objective = GatysObjective(
                network: network.with(algorithm: algorithm), config: config, content: image, targets: targets)
            var grad = [Float](repeating: 0, count: image.pixels.count)
            let profile = LayerProfile(layers: objective.arena.depth)
            for _ in 0 ..< max(1, repeats) {
                image.pixels.withUnsafeBufferPointer { x in
                    grad.withUnsafeMutableBufferPointer {
                        _ = objective.evaluate(x.baseAddress!, gradient: $0.baseAddress!, profile: profile)
                    }
                }
            }
            return profile
        }
        let (a, b) = (profile(.im2col), profile(.winograd)), n = Double(max(1, repeats))
        return VGG19.layerNames.enumerated().map { i, name in
            LayerTiming(
                name: name, im2col: [a.forward[i] / n, a.backward[i] / n],
                winograd: [b.forward[i] / n, b.backward[i] / n])
        }
    }

    /// GFLOP/s of a 2048³ sgemm on the core's threads (best of 3).
    public static func sgemmPeak() -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        let best =
            (0 ..< 3).map { _ in
                Stopwatch.seconds {
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                BLAS.parallelSgemm(
                                    m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                                    c: cp.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
            }.min() ?? .infinity
        return 2 * Double(n * n * n) / best / 1e9
    }
}
