import CKernelShim
import COpenBLAS
import Foundation
import Synchronization

/// The OpenBLAS kernel this process computes with, and why.
public struct KernelInUse: Sendable, Equatable, Codable {
    public var core: String
    public var reason: String

    public init(core: String, reason: String) {
        self.core = core
        self.reason = reason
    }

    /// "BLAS kernel Cooperlake (chosen by StyleFarm: …)", as every command that computes prints it.
    public var line: String { "BLAS kernel \(core) (\(reason))" }
}

/// Chooses OpenBLAS's kernel before any compute (Docs/performance.md, "Choosing the BLAS kernel").
///
/// OpenBLAS picks its kernel when it loads, from `OPENBLAS_CORETYPE` or from CPUID; on a processor model it does not
/// know it falls back to its SSE3 kernels at half the speed. When the user has not set `OPENBLAS_CORETYPE` and
/// OpenBLAS's pick is weaker than what the processor runs, StyleFarm probes the candidates (`KernelCatalog`) best
/// first, each in a child process running `KernelSelfTest`, keeps the first that passes and is faster
/// (`KernelChoice`), caches the choice per processor model and library, and re-executes itself with the kernel set.
public enum KernelSelection {
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set with `OPENBLAS_CORETYPE` when StyleFarm chose the kernel (and inherited by the processes it starts),
    /// so that a choice of StyleFarm's is told from the user's own.
    public static let chosenVariable = "STYLEFARM_BLAS_KERNEL", reasonVariable = "STYLEFARM_BLAS_REASON"
    /// A test switch: the kernel OpenBLAS is taken to have picked (its baseline probed as that kernel), so that the whole
    /// path (probe, choose, cache, re-execute, read the cache back) runs on a machine whose real pick is already strong
    /// (`BLASCommandTests`). Never set by StyleFarm; a user has no reason to.
    public static let pretendPickVariable = "STYLEFARM_TEST_BLAS_PICK"
    static let variables = [coreTypeVariable, chosenVariable, reasonVariable]

    public enum Decision: Equatable, Sendable {
        /// Compute with the kernel that is loaded.
        case keep(KernelInUse)
        /// Re-execute with `OPENBLAS_CORETYPE` set to this kernel, for this reason.
        case reexecute(kernel: String, reason: String)
    }

    /// The kernel OpenBLAS is running in this process.
    public static var openBLASCore: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// The library's version, path and size: a Debian update of the same version is another library.
    public static var libraryIdentity: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        let version = config.split(separator: " ").prefix(2).joined(separator: " ")
        guard let p = kernelshim_blas_library_path() else { return version }
        let path = URL(fileURLWithPath: String(cString: p)).resolvingSymlinksInPath().path
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        return "\(version) \(path) \(size ?? 0) bytes"
    }

    public static func cacheKey(cpu: CPUFeatures, library: String) -> String { cpu.signature + " | " + library }

    /// Whether `OPENBLAS_CORETYPE` in `environment` was set by StyleFarm's own choice (its marker agrees), not by
    /// the user.
    public static func isOwnChoice(_ environment: [String: String]) -> Bool {
        guard let set = environment[coreTypeVariable], !set.isEmpty else { return false }
        return environment[chosenVariable] == set
    }

    /// The whole decision, pure: what the environment says, what OpenBLAS picked, what the processor runs, the
    /// cached choice (nil when none); `probe` runs only when a choice must be made, and its result is returned to
    /// be cached.
    public static func decide(
        environment: [String: String], picked: String, cpu: CPUFeatures, key: @autoclosure () -> String,
        cached: @autoclosure () -> KernelChoice?, now: Double,
        probe: (String?) -> ProbeReport
    ) -> (decision: Decision, probed: KernelChoice?) {
        if let set = environment[coreTypeVariable], !set.isEmpty {
            if isOwnChoice(environment) {
                return (
                    .keep(
                        KernelInUse(
                            core: picked,
                            reason: "chosen by StyleFarm: " + (environment[reasonVariable] ?? "for this CPU"))), nil
                )
            }
            let fallback =
                set.lowercased() == picked.lowercased()
                ? "" : "; OpenBLAS has no such kernel for this CPU and ran \(picked)"
            return (.keep(KernelInUse(core: picked, reason: "set by you: \(coreTypeVariable)=\(set)\(fallback)")), nil)
        }
        let candidates = KernelCatalog.candidates(for: cpu)
        guard KernelCatalog.isWeaker(picked, than: cpu) else {
            let level = cpu.level.map { "the best this CPU (\($0)) runs" } ?? "this CPU's instruction set is unknown"
            return (.keep(KernelInUse(core: picked, reason: "picked by OpenBLAS, \(level)")), nil)
        }
        // Only a weak pick needs the library's identity and the cache file (read lazily: not on every start).
        let key = key(), choice: KernelChoice, probed: KernelChoice?
        // A cached choice is used only if it names one of this CPU's candidates: a cache file edited (or copied from
        // another machine) to name a kernel this CPU cannot run must not make every start die of SIGILL.
        if let cached = cached(), cached.key == key, cached.chosen.map(candidates.contains) ?? true {
            (choice, probed) = (cached, nil)
        } else {
            choice = KernelChoice.probe(key: key, picked: picked, candidates: candidates, now: now, probe: probe)
            probed = choice
        }
        guard let chosen = choice.chosen else {
            return (.keep(KernelInUse(core: picked, reason: choice.reason)), probed)
        }
        return (.reexecute(kernel: chosen, reason: choice.reason), probed)
    }

    /// The kernel in use, once `prepare` ran; else (a process that does not choose, a library user's) described
    /// without probing.
    public static var inUse: KernelInUse {
        if let known = current.withLock({ $0 }) { return known }
        let picked = openBLASCore
        var wouldProbe = false
        let (decision, _) = decide(
            environment: ProcessInfo.processInfo.environment, picked: picked, cpu: CPUFeatures.current(),
            key: "", cached: nil, now: 0
        ) { kernel in
            wouldProbe = true
            return ProbeReport(requested: kernel, core: picked, worstError: nil, gflops: nil, failure: "not probed")
        }
        if !wouldProbe, case .keep(let kept) = decision { return kept }
        return KernelInUse(
            core: picked,
            reason: "picked by OpenBLAS, weaker than what this CPU runs; this process does not choose, "
                + "the stylefarm commands that compute do")
    }

    static let current = Mutex<KernelInUse?>(nil)

    /// Run first thing by every command that computes. Re-executes this program (`/proc/self/exe`, same arguments)
    /// when a better kernel is chosen, so it returns only with the kernel that will be used; `status` hears about a
    /// first probe (it takes a few seconds) before it starts.
    @discardableResult
    public static func prepare(
        arguments: [String], probeArguments: [String], cacheDirectory: String,
        status: (String) -> Void
    ) -> KernelInUse {
        let environment = ProcessInfo.processInfo.environment
        // Pretending is for a process that chooses: one started with the kernel set (re-executed) reports what it runs.
        let pretend =
            environment[coreTypeVariable]?.isEmpty == false
            ? nil : environment[pretendPickVariable].flatMap { $0.isEmpty ? nil : $0 }
        let cpu = CPUFeatures.current(), picked = pretend ?? openBLASCore
        var knownKey: String?
        func key() -> String {  // dladdr and stat, once, and only when the pick is weak
            if let knownKey { return knownKey }
            let made = cacheKey(cpu: cpu, library: libraryIdentity)
            knownKey = made
            return made
        }
        let cache = KernelChoiceCache(directory: cacheDirectory)
        let probe = KernelProbe(executable: "/proc/self/exe", arguments: probeArguments)
        var announced = false
        let (decision, probed) = decide(
            environment: environment, picked: picked, cpu: cpu, key: key(),
            cached: cache.load(key: key()), now: Date().timeIntervalSince1970
        ) { kernel in
            if !announced {
                status(
                    "OpenBLAS picked \(picked), weaker than this CPU (\(cpu.level.map(String.init(describing:)) ?? "?")) runs: "
                        + "testing its other kernels once (cached in \(cacheDirectory))")
                announced = true
            }
            return probe.run(kernel: kernel ?? pretend)
        }
        if let probed { cache.save(probed) }
        switch decision {
        case .keep(let kept):
            current.withLock { $0 = kept }
            return kept
        case .reexecute(let kernel, let reason):
            setenv(coreTypeVariable, kernel, 1)
            setenv(chosenVariable, kernel, 1)
            setenv(reasonVariable, reason + (probed == nil ? " (cached)" : ""), 1)
            let argv = arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", argv)
            // Only reached when exec failed: go on with OpenBLAS's pick and say so.
            let why = String(cString: strerror(errno))
            for name in variables { unsetenv(name) }
            let kept = KernelInUse(
                core: picked, reason: "picked by OpenBLAS; \(kernel) was chosen but re-executing failed: \(why)")
            current.withLock { $0 = kept }
            return kept
        }
    }
}
