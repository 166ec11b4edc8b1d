import COpenBLAS
import Foundation

/// What one kernel did in its self-test, measured in a child process of its own (a kernel the processor cannot
/// run kills only that child).
public struct ProbeReport: Codable, Sendable, Equatable {
    /// The kernel asked for (`OPENBLAS_CORETYPE`); nil for OpenBLAS's own pick.
    public var requested: String?
    /// The kernel that ran (`openblas_get_corename()`): OpenBLAS falls back to another when it lacks one.
    public var core: String
    /// `KernelSelfTest.worstError()`; nil when the child did not report.
    public var worstError: Double?
    /// `KernelSelfTest.gflops()`; nil when the child did not report.
    public var gflops: Double?
    /// Why the child gave no report ("killed by signal 4", "timed out after 60 s", ...).
    public var failure: String?

    public init(requested: String?, core: String, worstError: Double?, gflops: Double?, failure: String? = nil) {
        self.requested = requested
        self.core = core
        self.worstError = worstError
        self.gflops = gflops
        self.failure = failure
    }

    /// Whether the kernel asked for is the one that ran and it computed right.
    public var passed: Bool { verdict == nil }

    /// Why it did not pass, or nil.
    public var verdict: String? {
        if let failure { return failure }
        if let requested, requested.lowercased() != core.lowercased() { return "OpenBLAS ran \(core) instead" }
        guard let worstError, worstError <= KernelSelfTest.tolerance else {
            return
                "wrong results (error \(worstError.map { String(format: "%.1e", $0) } ?? "?") > \(KernelSelfTest.tolerance))"
        }
        return gflops == nil ? "no speed measured" : nil
    }

    /// This process's kernel, measured here (what a probe child prints, as one JSON line).
    public static func measureHere(requested: String?) -> ProbeReport {
        ProbeReport(
            requested: requested, core: KernelSelection.openBLASCore, worstError: KernelSelfTest.worstError(),
            gflops: KernelSelfTest.gflops())
    }
}

/// Runs a probe child: `executable arguments…` with `OPENBLAS_CORETYPE` set to the kernel (or unset for
/// OpenBLAS's own pick), expecting a `ProbeReport` as its last line of output.
public struct KernelProbe: Sendable {
    public var executable: String
    public var arguments: [String]
    public var timeout: Double

    public init(executable: String, arguments: [String], timeout: Double = 60) {
        self.executable = executable
        self.arguments = arguments
        self.timeout = timeout
    }

    public func run(kernel: String?) -> ProbeReport {
        var environment = ProcessInfo.processInfo.environment
        for name in KernelSelection.variables { environment[name] = nil }
        if let kernel { environment[KernelSelection.coreTypeVariable] = kernel }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let failed = { (why: String) in
            ProbeReport(requested: kernel, core: kernel ?? "?", worstError: nil, gflops: nil, failure: why)
        }
        do { try process.run() } catch { return failed("could not start \(executable): \(error)") }
        // The report is a few hundred bytes: the pipe never fills before the child exits.
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            return failed("timed out after \(Int(timeout)) s")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        if process.terminationReason == .uncaughtSignal {
            return failed("killed by signal \(process.terminationStatus)")
        }
        if process.terminationStatus != 0 { return failed("exited with status \(process.terminationStatus)") }
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard var report = try? JSONDecoder().decode(ProbeReport.self, from: Data(lastLine.utf8)) else {
            return failed("no report in its output")
        }
        report.requested = kernel
        return report
    }
}
