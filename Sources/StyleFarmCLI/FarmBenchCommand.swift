import ArgumentParser
import FarmClient
import FarmCoordinator
import FarmProtocol
import FarmTransport
import Foundation
import Imaging
import StyleCore
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
    @Option(help: "Comma-separated simulated-worker counts for the scale simulation, e.g. 10,100,1000 (empty: skip it).")
    var scale = ""
    @Option(help: "Median simulated tile time of the scale simulation, in seconds.") var tileSeconds = 10.0
    @Option(help: "Tiles per simulated worker in the scale simulation's job.") var tilesPerWorker = 4
    @Option(help: "Comma-separated output sides for the canvas simulation, e.g. 4096,8192,16384,32768 (empty: skip it).")
    var canvas = ""
    @Option(help: "Simulated workers of the canvas simulation.") var canvasWorkers = 8
    @Option(help: "The canvas simulation coordinator's --canvas-memory.") var canvasMemory = "256M"
    @Option(help: "The canvas simulation's output format: png or tiff.") var canvasFormat = "png"
    @Option(help: ArgumentHelp("Weights file (.sfw).", valueName: "path")) var weights: String?

    func validate() throws {
        guard ["png", "tiff"].contains(canvasFormat) else { throw ValidationError("--canvas-format must be png or tiff") }
    }

    func run() throws {
        let weightsURL = WeightsLocation.resolve(explicit: weights)
        let tileTimes = workers > 0 ? try efficiency(weightsURL) : []
        if simulated > 0 { try throughput(weightsURL) }
        let counts = scale.split(separator: ",").compactMap { Int($0) }
        if !counts.isEmpty { try scaleSimulation(weightsURL, counts: counts, shape: tileTimes) }
        let sides = canvas.split(separator: ",").compactMap { Int($0) }
        if !sides.isEmpty { try canvasSimulation(weightsURL, sizes: sides) }
    }

    static func files() throws -> ([UInt8], [UInt8]) {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Assets/demo")
        return ([UInt8](try Data(contentsOf: root.appendingPathComponent("chelsea.png"))),
                [UInt8](try Data(contentsOf: root.appendingPathComponent("hokusai_great_wave.jpg"))))
    }

    static func spec(width: Int, height: Int, coarse: Int, tile: Int, overlap: Int, margin: Int, iterations: [Int],
                     localTargets: Bool) -> JobSpec {
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        var job = PosterJob(content: blank, styles: [(blank, 1)], width: width, height: height)
        (job.coarseSize, job.tileSize, job.overlap, job.margin, job.iterations) = (coarse, tile, overlap, margin, iterations)
        job.localTargets = localTargets
        job.options.loss.contentWeight = Defaults.contentWeight
        job.options.loss.tvWeight = Defaults.tvWeight
        return JobSpec(name: "bench", poster: job.settings, styleWeights: [1], crop: true)
    }

    static func temporaryState() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-bench-\(getpid())-\(UInt32.random(in: 0 ... .max))")
    }

    /// Runs the efficiency job; returns its tiled stages' tile compute seconds (the scale simulation's distribution).
    @discardableResult
    func efficiency(_ weightsURL: URL) throws -> [Double] {
        let its = levelIterations.split(separator: ",").compactMap { Int($0) }
        let (content, style) = try Self.files()
        let h = size * 2 / 3
        let spec = Self.spec(width: size, height: h, coarse: size / 2, tile: size / 2, overlap: size / 16, margin: size / 32,
                             iterations: its, localTargets: true)
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let farm = try LocalFarm(stateDirectory: state, weights: weightsURL, workers: workers, threadsPerWorker: 1)
        defer { farm.shutdown() }
        let client = FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity)
        _ = try client.status()  // the coordinator is up
        let t0 = Date()
        let id = try client.submit(spec, content: content, styles: [style])
        let final = try client.wait(job: id, poll: 0.2)
        let wall = Date().timeIntervalSince(t0)
        guard final.state == .done else { throw ValidationError("bench job \(final.state): \(final.detail ?? "")") }
        let computeSeconds = try client.status().workers.reduce(0) { $0 + $1.computeSeconds }
        let tileTimes = try Journal(directory: state).tileRecords(job: id).filter { $0.stage > 0 }.map(\.seconds)
        let s = farm.coordinator.stats
        print(String(format: "efficiency: %dx%d, levels %@, %d tiles on %d one-thread workers: wall %.1f s, compute %.1f s, efficiency %.1f%%",
                     size, h, levelIterations, final.tilesTotal, workers, wall, computeSeconds, 100 * computeSeconds / (Double(workers) * wall)))
        print(String(format: "wire per tile: assign %.0f KiB (content + start crops with margin, float32), result %.0f KiB (core, float32); "
            + "raw tile (core, 16-bit RGB) %.0f KiB; assign+result = %.2fx raw",
                     Double(s.assignBytes) / Double(max(1, s.assigns)) / 1024, Double(s.resultBytes) / Double(max(1, s.results)) / 1024,
                     Double(s.rawTileBytes) / Double(max(1, s.results)) / 1024,
                     Double(s.assignBytes + s.resultBytes) / Double(max(1, s.rawTileBytes))))
        return tileTimes
    }

    func throughput(_ weightsURL: URL) throws {
        let (content, style) = try Self.files()
        let spec = Self.spec(width: throughputSize, height: throughputSize, coarse: 64, tile: 48, overlap: 8, margin: 4,
                             iterations: [1], localTargets: false)
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let farm = try LocalFarm(stateDirectory: state, weights: weightsURL, workers: 0, threadsPerWorker: 1)
        defer { farm.shutdown() }
        let endpoint = farm.coordinator.endpoint
        // Simulated workers: DEALERs in this thread that answer every assign at once with zero pixels.
        let sockets = try (0 ..< simulated).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer)
            try farm.clientSecurity.apply(to: s)
            try s.setRoutingID(Array("sim\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(Message(.ready, ReadyBody(name: "sim\(i)", threads: 1, versions: FarmProtocol.versions, weights: nil,
                                                     busy: [])).frames)
            return s
        }
        let client = FarmClient(endpoint: endpoint, security: farm.clientSecurity)
        let id = try client.submit(spec, content: content, styles: [style])
        let t0 = Date()
        try Self.answerAtOnce(sockets, client: client, job: id) { a, _ in [UInt8](repeating: 0, count: 12 * a.task.tile.core.area) }
        let wall = Date().timeIntervalSince(t0)
        let s = farm.coordinator.stats
        let final = try client.status(job: id).jobs[0]
        print(String(format: "throughput: %d simulated workers, %dx%d in 48-px tiles: %d tiles (%@) in %.1f s: %.0f tile results/s, "
            + "%.0f tile messages/s (assign + result), journal included", simulated, throughputSize, throughputSize, s.results,
                     final.state.rawValue, wall, Double(s.results) / wall, Double(s.tileMessages) / wall))
    }

    /// Simulated workers on `sockets` that answer every assignment at once with `answer`'s result payload, and
    /// heartbeat every 0.5 s (then also calling `tick`), until the job ends.
    static func answerAtOnce(_ sockets: [ZMQSocket], client: FarmClient, job id: String,
                             tick: () -> Void = {}, answer: (AssignBody, Message) -> [UInt8]) throws {
        var lastBeat = Date.distantPast, lastPoll = Date()
        var done = false
        while !done {
            var idle = true
            for s in sockets {
                while let (frames, _) = try s.receive(timeout: 0), let m = try? Message(frames: frames) {
                    idle = false
                    guard m.command == .assign, let a = try? m.decode(AssignBody.self) else { continue }
                    _ = try s.send(Message(.result, ResultBody(lease: a.lease, seconds: 0, loss: 0), payload: [answer(a, m)]).frames)
                }
            }
            if Date().timeIntervalSince(lastBeat) > 0.5 {
                for s in sockets { _ = try s.send(Message(.heartbeat).frames) }
                lastBeat = Date()
                tick()
            }
            if Date().timeIntervalSince(lastPoll) > 0.5 {
                done = try client.status(job: id).jobs.first?.state.isFinal ?? true
                lastPoll = Date()
            }
            if idle { usleep(200) }
        }
    }

    /// A coordinator process on `endpoint` (plaintext, no dashboard, heartbeat 2 s), stopped by `stop`.
    static func coordinatorProcess(endpoint: String, state: URL, weights: URL, extra: [String], stderr: FileHandle?) throws -> Process {
        let coordinator = Process()
        coordinator.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        coordinator.arguments = ["coordinator", "--bind", endpoint, "--state", state.path, "--weights", weights.path, "--insecure",
                                 "--dashboard", "off", "--heartbeat", "2"] + extra
        coordinator.standardError = stderr ?? FileHandle.nullDevice
        try coordinator.run()
        return coordinator
    }
}

extension Process {
    /// Terminates the process and waits for it.
    func stop() {
        terminate()
        waitUntilExit()
    }
}
