import Foundation
import Testing

/// `stylefarm blas` and the kernel line of the commands that compute, run as a user runs them (the release binary,
/// a cache directory of the test's own).
@Suite struct BLASCommandTests {
    static var executable: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/release/stylefarm")
    }

    /// Runs the binary with `environment` added (and OPENBLAS_CORETYPE removed unless given); standard output and
    /// error together, and the exit status. Bounded: killed after 120 s.
    static func run(_ arguments: [String], cache: URL, environment extra: [String: String] = [:]) throws -> (output: String, status: Int32) {
        var environment = ProcessInfo.processInfo.environment
        for name in ["OPENBLAS_CORETYPE", "STYLEFARM_BLAS_KERNEL", "STYLEFARM_BLAS_REASON"] { environment[name] = nil }
        environment["XDG_CACHE_HOME"] = cache.path
        environment.merge(extra) { $1 }
        let p = Process(), pipe = Pipe()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = environment
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let deadline = DispatchTime.now() + 120
        DispatchQueue.global().async {
            while p.isRunning, DispatchTime.now() < deadline { usleep(100_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), p.terminationStatus)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test(.timeLimit(.minutes(3))) func probeTestsThisMachinesKernelsInChildProcessesAndCachesTheResult() throws {
        let cache = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let before = try Self.run(["blas"], cache: cache)
        #expect(before.status == 0)
        #expect(before.output.contains("probe:      none cached"))
        let probed = try Self.run(["blas", "--probe"], cache: cache)
        #expect(probed.status == 0, "\(probed.output)")
        // OpenBLAS's own pick passes its self-test on the machine it picked for.
        let pickRow = probed.output.split(separator: "\n").first { $0.hasPrefix("  (OpenBLAS)") }
        #expect(pickRow?.hasSuffix("passed") == true, "\(probed.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("stylefarm").path)
        #expect(files.count == 1 && files[0].hasPrefix("blas-kernel-"))
        let after = try Self.run(["blas"], cache: cache)
        #expect(after.output.contains("probe:      OpenBLAS picked"))
        #expect(after.output.contains("cached in:"))
    }

    @Test(.timeLimit(.minutes(3))) func everyComputingCommandSaysWhichKernelAndWhyAndAUsersSettingWins() throws {
        let cache = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        // A cache left corrupt (a full disk, a hand edit) is no choice, never a crash.
        try FileManager.default.createDirectory(at: cache.appendingPathComponent("stylefarm"), withIntermediateDirectories: true)
        let blas = try Self.run(["blas"], cache: cache)
        let cachePath = blas.output.split(separator: "\n").first { $0.hasPrefix("probe:") }.flatMap { line in
            line.split(separator: "(").last.map { String($0.prefix { $0 != ")" }) }
        }
        if let cachePath { try Data("{\"key\": [".utf8).write(to: URL(fileURLWithPath: cachePath)) }
        #expect(cachePath != nil, "\(blas.output)")
        let plan = try Self.run(["plan", "--width", "64", "--height", "64"], cache: cache)
        #expect(plan.status == 0, "\(plan.output)")
        let line = plan.output.split(separator: "\n").first { $0.contains("estimated time") }.map(String.init) ?? ""
        // OpenBLAS's pick is the best this CPU runs, or StyleFarm probed and chose (and cached) a better one, or it
        // probed and found none: the line names the kernel and which.
        let reasons = ["(picked by OpenBLAS, ", "(chosen by StyleFarm: ", " and no better kernel was found"]
        #expect(line.contains("measured with the BLAS kernel ") && reasons.contains { line.contains($0) }, "\(plan.output)")
        let user = try Self.run(["plan", "--width", "64", "--height", "64"], cache: cache, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(user.output.contains("BLAS kernel Prescott (set by you: OPENBLAS_CORETYPE=Prescott)"), "\(user.output)")
        let bench = try Self.run(["bench", "--sizes", "32", "--threads", "1", "--repeats", "1", "--torch-script", ""], cache: cache,
                                 environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(bench.output.contains("BLAS kernel Prescott (set by you"), "\(bench.output)")
        #expect(bench.output.contains("Prescott  as is: OPENBLAS_CORETYPE=Prescott"), "\(bench.output)")
    }
}
