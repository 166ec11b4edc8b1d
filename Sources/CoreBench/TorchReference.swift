import Foundation

/// The PyTorch reference's timing of one configuration (Tests/Reference/bench_torch.py --json prints one per line).
public struct TorchTiming: Decodable, Sendable {
    public var size: Int, threads: Int
    public var forward: Double, forwardBackward: Double
    public var peakRSSMiB: Double?

    enum CodingKeys: String, CodingKey {
        case size, threads, forward = "forward_s", forwardBackward = "fwdbwd_s", peakRSSMiB = "peak_rss_mib"
    }

    /// Its row, with our forward+backward time over its own for each of our settings.
    public func row(ours: [(label: String, seconds: Double)]) -> String {
        let ratios = ours.map {
            String(format: "  stylefarm/pytorch = %.2fx (%@)", $0.seconds / forwardBackward, $0.label)
        }.joined()
        return String(
            format: "pytorch   %5d %7d %10.3f %9.3f %8s %12s %13.0f", size, threads, forward, forwardBackward, "-", "-",
            peakRSSMiB ?? 0) + ratios
    }

    /// The timings in the script's output, and the errors it reported (`{"error": …}`), each as a line to print.
    public static func parse(_ output: String) -> (timings: [TorchTiming], errors: [String]) {
        var timings: [TorchTiming] = [], errors: [String] = []
        struct Failure: Decodable { var error: String }
        for line in output.split(separator: "\n") {
            let data = Data(line.utf8)
            if let failure = try? JSONDecoder().decode(Failure.self, from: data) {
                errors.append("pytorch: \(failure.error)")
            } else if let timing = try? JSONDecoder().decode(TorchTiming.self, from: data) {
                timings.append(timing)
            }
        }
        return (timings, errors)
    }
}
