import ArgumentParser
import FarmBench
import Foundation
import VGGWeights

/// `stylefarm bench-farm`: farm efficiency on a real job, coordinator throughput with simulated workers,
/// and bytes on the wire per tile.
struct FarmBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-farm",
        abstract: "Measure the farm: efficiency with real workers, throughput with simulated ones, bytes per tile.",
        discussion: """
            Efficiency = Σ worker compute seconds / (workers × wall seconds) for one real job on an embedded farm
            of one-thread workers. Throughput = tile messages per second through the coordinator when many
            simulated workers answer every assignment at once (zero pixels, no compute).
            """)

    @Option(help: "Real one-thread workers for the efficiency run (0: skip it).") var workers = 2
    @Option(help: "Output long side of the efficiency job.") var size = 512
    @Option(help: "Iterations per level of the efficiency job.") var levelIterations = "40,20"
    @Option(help: "Simulated workers for the throughput run (0: skip it).") var simulated = 64
    @Option(help: "Output size of the throughput job (tiles of 48 px, one iteration).") var throughputSize = 1024
    @Option(
        help: "Comma-separated simulated-worker counts for the scale simulation, e.g. 10,100,1000 (empty: skip it).")
    var scale = ""
    @Option(help: "Median simulated tile time of the scale simulation, in seconds.") var tileSeconds = 10.0
    @Option(help: "Tiles per simulated worker in the scale simulation's job.") var tilesPerWorker = 4
    @Option(
        help: "Comma-separated output sides for the canvas simulation, e.g. 4096,8192,16384,32768 (empty: skip it).")
    var canvas = ""
    @Option(help: "Simulated workers of the canvas simulation.") var canvasWorkers = 8
    @Option(help: "The canvas simulation coordinator's --canvas-memory.") var canvasMemory = "256M"
    @Option(help: "The canvas simulation's output format: png or tiff.") var canvasFormat = "png"
    @Flag(
        help: ArgumentHelp(
            "Measure the control room: the coordinator's CPU with and without the page open, and the page's load and "
                + "update times, with --control-room-workers simulated workers rendering --control-room-jobs jobs (needs Chromium)."
        ))
    var controlRoom = false
    @Option(help: "Simulated workers of the control-room run.") var controlRoomWorkers = 1000
    @Option(help: "Jobs rendering at once in the control-room run.") var controlRoomJobs = 20
    @Option(help: "Seconds of each control-room measuring window (without the page, with it, without it again).")
    var controlRoomWindow = 20.0
    @Option(help: ArgumentHelp("Weights file (.sfw).", valueName: "path")) var weights: String?

    func validate() throws {
        guard ["png", "tiff"].contains(canvasFormat) else {
            throw ValidationError("--canvas-format must be png or tiff")
        }
    }

    func run() throws {
        let weightsURL = WeightsLocation.resolve(explicit: weights)
        let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        var tileTimes: [Double] = []
        if workers > 0 {
            // safe-int: a failable parse of text
            let its = levelIterations.split(separator: ",").compactMap { Int($0) }
            let r = try FarmBench.efficiency(weights: weightsURL, workers: workers, size: size, levelIterations: its)
            tileTimes = r.tileSeconds
            let s = r.wire
            print(
                String(
                    format:
                        "efficiency: %dx%d, levels %@, %d tiles on %d one-thread workers: wall %.1f s, compute %.1f s, efficiency %.1f%%",
                    r.width, r.height, levelIterations, r.tiles, r.workers, r.wall, r.compute, 100 * r.efficiency))
            print(
                String(
                    format:
                        "wire per tile: assign %.0f KiB (content + start crops with margin, float32), result %.0f KiB (core, float32); "
                        + "raw tile (core, 16-bit RGB) %.0f KiB; assign+result = %.2fx raw",
                    Double(s.assignBytes) / Double(max(1, s.assigns)) / 1024,
                    Double(s.resultBytes) / Double(max(1, s.results)) / 1024,
                    Double(s.rawTileBytes) / Double(max(1, s.results)) / 1024,
                    Double(s.assignBytes + s.resultBytes) / Double(max(1, s.rawTileBytes))))
        }
        if simulated > 0 {
            let r = try FarmBench.throughput(weights: weightsURL, workers: simulated, size: throughputSize)
            print(
                String(
                    format:
                        "throughput: %d simulated workers, %dx%d in 48-px tiles: %d tiles (%@) in %.1f s: %.0f tile results/s, "
                        + "%.0f tile messages/s (assign + result), journal included", r.workers, r.size, r.size,
                    r.results, r.state.rawValue,
                    r.wall, Double(r.results) / r.wall, Double(r.tileMessages) / r.wall))
        }
        let counts = scale.split(separator: ",").compactMap { Int($0) }  // safe-int: a failable parse of text
        if !counts.isEmpty { try scaleSimulation(executable, weightsURL, counts: counts, shape: tileTimes) }
        let sides = canvas.split(separator: ",").compactMap { Int($0) }  // safe-int: a failable parse of text
        if !sides.isEmpty { try canvasSimulation(executable, weightsURL, sides: sides) }
        if controlRoom { try controlRoomSimulation(executable, weightsURL, shape: tileTimes) }
    }

    func controlRoomSimulation(_ executable: URL, _ weightsURL: URL, shape: [Double]) throws {
        let r = try FarmBench.simulateControlRoom(
            executable, weights: weightsURL, workers: controlRoomWorkers, jobs: controlRoomJobs,
            tileSeconds: tileSeconds, window: controlRoomWindow,
            relative: FarmBench.relativeTileTimes(shape))
        print(
            String(
                format: "control room: %d simulated workers, %d jobs (%d tiles), median tile %.1f s, windows of %.0f s",
                r.workers, r.jobs, r.tiles, tileSeconds, r.window))
        print(
            String(
                format:
                    "  coordinator CPU: %.1f%% of a core without the page, %.1f%% with it open, %.1f%% without it again "
                    + "(%.0f, %.0f and %.0f results/s)", 100 * r.cpuBefore, 100 * r.cpuWith, 100 * r.cpuAfter,
                r.resultsBefore, r.resultsWith,
                r.resultsAfter))
        print(
            String(
                format:
                    "  page: first render %.0f ms after navigation (%.0f ms wall to the bench); %d change batches rendered in "
                    + "%.1f ms median, %.1f ms p99, %.1f ms max; stream %.1f KiB/s in %.1f change events/s",
                r.firstRenderMs, r.loadWallMs, r.flushes, r.flushP50, r.flushP99, r.flushMax,
                r.streamBytesPerSecond / 1024,
                r.changeEventsPerSecond))
    }

    func scaleSimulation(_ executable: URL, _ weightsURL: URL, counts: [Int], shape: [Double]) throws {
        let relative = FarmBench.relativeTileTimes(shape)
        print(
            shape.count >= 4
                ? String(
                    format:
                        "tile times: %d measured tiles from the efficiency run, relative spread %.2f…%.2f of the median",
                    shape.count, relative.min() ?? 0, relative.max() ?? 0)
                : "tile times: log-normal, σ = 0.25 (no efficiency run to measure them)")
        print(
            String(
                format: "median tile time %.2f s; coordinator --heartbeat 2 --liveness 5; %d tiles per worker",
                tileSeconds, tilesPerWorker))
        print(
            "workers  tiles   wall_s  efficiency  coord_cpu_ms/tile  tile_msgs/s  results/s  sched_p50_ms  sched_p99_ms  lost"
        )
        var results: [FarmBench.ScaleResult] = []
        for n in counts {
            let r = try FarmBench.simulateScale(
                executable, weights: weightsURL, workers: n, tileSeconds: tileSeconds,
                tilesPerWorker: tilesPerWorker, relative: relative)
            results.append(r)
            print(
                String(
                    format: "%7d %6d %8.1f %10.1f%% %18.2f %12.0f %10.0f %13.1f %13.1f %5d", r.workers, r.tiles, r.wall,
                    100 * r.efficiency,
                    1000 * r.cpuPerTile, r.messagesPerSecond, r.resultsPerSecond, 1000 * r.p50, 1000 * r.p99, r.lost))
        }
        // Saturation: one coordinator core serves at most 1 / (CPU per tile) results per second; N workers ask for
        // N / (median tile time). The largest run spreads the job's fixed costs over the most tiles.
        if let largest = results.max(by: { $0.tiles < $1.tiles }) {
            let capacity = 1 / largest.cpuPerTile
            print(
                String(
                    format:
                        "one coordinator core serves at most ~%.0f tiles/s (its CPU per tile at %d workers): it saturates near "
                        + "%.0f workers at %.1f s per tile, or %.0f workers at 60 s per tile", capacity,
                    largest.workers, capacity * tileSeconds,
                    tileSeconds, capacity * 60))
        }
    }

    func canvasSimulation(_ executable: URL, _ weightsURL: URL, sides: [Int]) throws {
        print("side    megapixels  tiles  wall_s  coord_peak_rss_MiB  coord_cpu_s  peak_disk_GiB  output_MiB")
        for side in sides {
            let r = try FarmBench.simulateCanvas(
                executable, weights: weightsURL, side: side, workers: canvasWorkers,
                canvasMemory: canvasMemory, format: canvasFormat)
            if let big = r.bigTIFF { print("output: \(big ? "BigTIFF" : "classic TIFF")") }
            print(
                String(
                    format: "%6d %10.0f %6d %7.0f %19.0f %12.0f %14.1f %11.0f", side, Double(side * side) / 1e6,
                    r.tiles, r.wall,
                    Double(r.peakRSS) / 1048576, r.cpu, Double(r.peakDisk) / 1073741824, Double(r.outputBytes) / 1048576
                ))
            fflush(nil)  // every output stream: a long simulation shows each row as it ends
        }
    }
}
