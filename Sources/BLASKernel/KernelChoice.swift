import Foundation

/// The outcome of probing one processor model with one OpenBLAS library, kept so that it costs nothing after the
/// first run: `~/.cache/stylefarm/blas-kernel-<hash>.json` (`$XDG_CACHE_HOME` honoured).
public struct KernelChoice: Codable, Sendable, Equatable {
    /// `KernelSelection.cacheKey`: the processor's signature and the library's version, path and size.
    public var key: String
    /// What OpenBLAS picked by itself.
    public var picked: String
    /// The kernel to run instead, or nil to keep OpenBLAS's pick.
    public var chosen: String?
    /// One line: why.
    public var reason: String
    /// Every probe, OpenBLAS's own pick first.
    public var reports: [ProbeReport]
    /// When it was probed (seconds since 1970).
    public var probedAt: Double

    public init(key: String, picked: String, chosen: String?, reason: String, reports: [ProbeReport], probedAt: Double)
    {
        self.key = key
        self.picked = picked
        self.chosen = chosen
        self.reason = reason
        self.reports = reports
        self.probedAt = probedAt
    }

    /// A candidate must be this much faster than OpenBLAS's pick to replace it: the machines' run-to-run spread is
    /// about ±5% for one sgemm shape, and a kernel that is not clearly faster is not worth a change of code path.
    public static let requiredSpeedup = 1.1

    /// Probes OpenBLAS's pick, then the candidates best first, and keeps the first that passes and is faster.
    public static func probe(
        key: String, picked: String, candidates: [String], now: Double,
        probe: (String?) -> ProbeReport
    ) -> KernelChoice {
        let baseline = probe(nil)
        var reports = [baseline]
        let baseSpeed = baseline.passed ? baseline.gflops ?? 0 : 0
        for candidate in candidates where candidate.lowercased() != picked.lowercased() {
            let report = probe(candidate)
            reports.append(report)
            guard report.passed, let speed = report.gflops, speed >= requiredSpeedup * baseSpeed else { continue }
            let reason = String(
                format: "OpenBLAS picked %@; %@ passed the self-test and ran %.0f GFLOP/s against %.0f",
                picked, candidate, speed, baseSpeed)
            return KernelChoice(
                key: key, picked: picked, chosen: candidate, reason: reason, reports: reports, probedAt: now)
        }
        let tried = reports.dropFirst().map { r in
            "\(r.requested ?? "?"): \(r.verdict ?? String(format: "%.0f GFLOP/s, not faster", r.gflops ?? 0))"
        }
        let reason =
            "OpenBLAS picked \(picked) and no better kernel was found"
            + (tried.isEmpty ? "" : " (\(tried.joined(separator: "; ")))")
        return KernelChoice(key: key, picked: picked, chosen: nil, reason: reason, reports: reports, probedAt: now)
    }
}

/// Where kernel choices are kept. A file that cannot be read or decoded, or holds another key, is no choice.
public struct KernelChoiceCache: Sendable {
    public var directory: String

    public init(directory: String) { self.directory = directory }

    public func path(for key: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return directory + "/blas-kernel-" + String(hash, radix: 16) + ".json"
    }

    public func load(key: String) -> KernelChoice? {
        guard let data = FileManager.default.contents(atPath: path(for: key)), data.count < 1 << 20,
            let choice = try? JSONDecoder().decode(KernelChoice.self, from: data), choice.key == key
        else { return nil }
        return choice
    }

    /// Writes atomically (a temporary file renamed), so two first runs at once leave one whole file. Best effort:
    /// a cache that cannot be written means probing again next time, nothing worse.
    public func save(_ choice: KernelChoice) {
        guard let data = try? JSONEncoder().encode(choice) else { return }
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try? data.write(to: URL(fileURLWithPath: path(for: choice.key)), options: .atomic)
    }
}
