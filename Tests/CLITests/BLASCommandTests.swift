import Foundation
import Testing

/// `stylefarm blas` and the kernel line of the commands that compute, run as a user runs them (the release binary,
/// a cache directory of the test's own).
@Suite struct BLASCommandTests {
    static var executable: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(".build/release/stylefarm")
    }

    /// Runs the binary with `environment` added (and OPENBLAS_CORETYPE removed unless given); standard output and
    /// error together, and the exit status. Bounded: killed after 120 s.
    static func run(_ arguments: [String], cache: URL, environment extra: [String: String] = [:]) throws -> (
        output: String, status: Int32
    ) {
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
        try FileManager.default.createDirectory(
            at: cache.appendingPathComponent("stylefarm"), withIntermediateDirectories: true)
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
        #expect(
            line.contains("measured with the BLAS kernel ") && reasons.contains { line.contains($0) }, "\(plan.output)")
        let user = try Self.run(
            ["plan", "--width", "64", "--height", "64"], cache: cache, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(user.output.contains("BLAS kernel Prescott (set by you: OPENBLAS_CORETYPE=Prescott)"), "\(user.output)")
        let bench = try Self.run(
            ["bench", "--sizes", "32", "--threads", "1", "--repeats", "1", "--torch-script", ""], cache: cache,
            environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(bench.output.contains("BLAS kernel Prescott (set by you"), "\(bench.output)")
        #expect(bench.output.contains("Prescott  as is: OPENBLAS_CORETYPE=Prescott"), "\(bench.output)")
    }

    /// The whole path on this machine, with OpenBLAS's strong pick made to look weak (`STYLEFARM_TEST_BLAS_PICK`): the
    /// first computing command probes the kernels in child processes, chooses one faster than the "weak" pick, caches it
    /// and re-executes itself with it; the next reads the cache (no probe); a corrupt cache is probed again.
    @Test(.timeLimit(.minutes(3))) func aWeakPickIsProbedChosenCachedAndReexecuted() throws {
        let cache = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let weak = ["STYLEFARM_TEST_BLAS_PICK": "Prescott"], plan = ["plan", "--width", "64", "--height", "64"]
        func kernelLine(_ output: String) -> String {
            output.split(separator: "\n").first { $0.contains("estimated time") }.map(String.init) ?? ""
        }
        let first = try Self.run(plan, cache: cache, environment: weak)
        #expect(
            first.status == 0 && first.output.contains("OpenBLAS picked Prescott, weaker than this CPU"),
            "\(first.output)")
        let chosen = kernelLine(first.output)
        #expect(
            chosen.contains("(chosen by StyleFarm: OpenBLAS picked Prescott; ")
                && chosen.contains("passed the self-test"),
            "re-executed with the chosen kernel: \(first.output)")
        #expect(!chosen.contains("(cached)"))
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("stylefarm").path)
            .filter { $0.hasPrefix("blas-kernel-") }
        #expect(files.count == 1, "the choice is cached: \(files)")

        let second = try Self.run(plan, cache: cache, environment: weak)
        #expect(
            !second.output.contains("testing its other kernels") && kernelLine(second.output).contains("(cached)"),
            "\(second.output)")

        for file in files {
            try Data("{\"key\": 7, \"chosen\": [".utf8).write(to: cache.appendingPathComponent("stylefarm/\(file)"))
        }
        let third = try Self.run(plan, cache: cache, environment: weak)
        #expect(
            third.status == 0 && third.output.contains("testing its other kernels once"),
            "a corrupt cache is probed again: \(third.output)")
        #expect(kernelLine(third.output).contains("(chosen by StyleFarm: "), "\(third.output)")
    }
}
