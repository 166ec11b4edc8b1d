import ArgumentParser
import BLASKernel
import Foundation
import VGGWeights

/// `stylefarm blas`: the OpenBLAS kernel StyleFarm computes with, why, and the probe behind the choice.
struct BLASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Show the OpenBLAS kernel StyleFarm computes with and why (--probe: test every candidate now).",
        discussion: """
            OpenBLAS falls back to slow SSE3 kernels on processors it does not know. Every command that computes checks \
            its pick against what the CPU runs and, when it is weaker, tests the CPU's other kernels once (a correctness \
            self-test against a naive reference and a speed measurement, each in a child process), caches the choice per \
            CPU model and OpenBLAS library, and re-executes itself with the kernel. OPENBLAS_CORETYPE, when you set it, \
            is always respected.
            """)

    @Flag(help: "Probe OpenBLAS's pick and every candidate kernel now and print each result (the cache is updated).")
    var probe = false
    @Flag(help: ArgumentHelp(visibility: .private)) var probeOne = false

    func run() throws {
        if probeOne {
            let report = ProbeReport.measureHere(
                requested: ProcessInfo.processInfo.environment[KernelSelection.coreTypeVariable])
            print(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
            return
        }
        let cpu = CPUFeatures.current(), library = KernelSelection.libraryIdentity,
            candidates = KernelCatalog.candidates(for: cpu)
        let key = KernelSelection.cacheKey(cpu: cpu, library: library)
        let cache = KernelChoiceCache(directory: KernelChoiceCache.defaultDirectory)
        print("CPU:        \(cpu.signature)")
        print(
            "runs:       \(cpu.level.map(String.init(describing:)) ?? "unknown instruction set"); candidates best first: "
                + (candidates.isEmpty ? "none" : candidates.joined(separator: ", ")))
        print("library:    \(library)")
        print("in use:     \(KernelSelection.inUse.line)")
        var choice = cache.load(key: key)
        if probe {
            let runner = KernelProbe(executable: "/proc/self/exe", arguments: Self.probeArguments)
            let picked = choice?.picked ?? KernelSelection.openBLASCore
            choice = KernelChoice.probe(
                key: key, picked: picked, candidates: candidates,
                now: Date().timeIntervalSince1970
            ) { runner.run(kernel: $0) }
            if let choice { cache.save(choice) }
        }
        guard let choice else {
            print("probe:      none cached (\(cache.path(for: key))); `stylefarm blas --probe` runs one")
            return
        }
        print("probe:      \(choice.reason)")
        print("  kernel asked  ran            self-test error  GFLOP/s (1 thread)  verdict")
        for r in choice.reports {
            let cells = [
                (r.requested ?? "(OpenBLAS)", 13), (r.core, 14),
                (r.worstError.map { String(format: "%.1e", $0) } ?? "-", 15),
                (r.gflops.map { String(format: "%.1f", $0) } ?? "-", 19)
            ]
            print(
                "  "
                    + cells.map { $0.0.padding(toLength: max($0.1, $0.0.count), withPad: " ", startingAt: 0) }.joined(
                        separator: " ")
                    + "  " + (r.verdict ?? "passed"))
        }
        print("cached in:  \(cache.path(for: key))")
    }

    static let probeArguments = ["blas", "--probe-one"]

    /// The subcommands that compute, which choose the kernel before they start.
    static let computing: Set<String> = [
        "render", "video", "worker", "coordinator", "bench", "bench-farm", "plan", "evaluate"
    ]

    /// Chooses the kernel (re-executing this program when a better one is chosen) when `arguments` name a command
    /// that computes; prints nothing else.
    static func prepareKernel(arguments: [String]) {
        guard arguments.count > 1, computing.contains(arguments[1]),
            !arguments.contains(where: { ["-h", "--help", "help"].contains($0) })
        else { return }
        KernelSelection.prepare(
            arguments: arguments, probeArguments: probeArguments,
            cacheDirectory: KernelChoiceCache.defaultDirectory, status: printError)
    }
}

extension KernelChoiceCache {
    /// `$XDG_CACHE_HOME/stylefarm`, else `~/.cache/stylefarm`: beside the weights' download cache.
    static var defaultDirectory: String { WeightsInstaller.cacheDirectory().path }
}

extension StyleFarmCommand {
    /// Run by `main` before parsing: chooses the BLAS kernel for the commands that compute.
    public static func prepareBLASKernel() { BLASCommand.prepareKernel(arguments: CommandLine.arguments) }
}
