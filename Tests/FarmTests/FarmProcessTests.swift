import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Imaging
import StyleCore
import Testing

/// A `stylefarm` child process with its stderr in a file; killed when the test ends.
final class Child {
    let process = Process()
    let log: URL

    static var executable: URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        #if DEBUG
            return root.appendingPathComponent(".build/debug/stylefarm")
        #else
            return root.appendingPathComponent(".build/release/stylefarm")
        #endif
    }

    init(_ arguments: [String], log: URL, executable: URL = Child.executable) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    func stop() {
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A farm on loopback for one test: a coordinator and workers as separate processes.
final class TestFarm {
    let dir: URL
    let port: Int
    var coordinator: Child?
    var workers: [Child] = []
    var endpoint: String { "tcp://127.0.0.1:\(port)" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("farmtest-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = Self.freePort()
    }

    /// A port below Linux's ephemeral range (32768+, where outgoing connections take theirs) that nothing
    /// listens on now.
    static func freePort() -> Int {
        for _ in 0 ..< 100 {
            let port = Int.random(in: 20000 ... 32000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = 0  // INADDR_ANY: free on every interface
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if rc == 0 { return port }
        }
        return Int.random(in: 20000 ... 32000)
    }

    /// Fast liveness (0.5 s × 3) so that the fault tests take seconds.
    /// Plaintext unless `security` gives the coordinator's flags (see SecurityTests).
    func startCoordinator(extra: [String] = ["--dashboard", "off"], security: [String] = ["--insecure"]) throws {
        coordinator = try Child(
            [
                "coordinator", "--bind", endpoint, "--state", dir.appendingPathComponent("state").path,
                "--heartbeat", "0.5", "--liveness", "3"
            ] + security + extra,
            log: dir.appendingPathComponent("coordinator-\(Int.random(in: 0 ... 1_000_000)).log"))
    }

    func startWorker(extra: [String] = [], security: [String] = ["--insecure"]) throws {
        let i = workers.count
        workers.append(
            try Child(
                [
                    "worker", "--connect", endpoint, "--threads", "1", "--name", "w\(i)",
                    "--cache", dir.appendingPathComponent("cache\(i)").path
                ] + security + extra,
                log: dir.appendingPathComponent("worker\(i).log")))
    }

    var clientSecurity = ClientSecurity.plaintext
    var client: FarmClient { FarmClient(endpoint: endpoint, security: clientSecurity, timeout: 5, retries: 2) }

    /// Polls status until `condition` holds, for at most `seconds`.
    func waitFor(_ what: String, seconds: Double, _ condition: (StatusReplyBody) -> Bool) throws -> StatusReplyBody {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = try? client.status(), condition(s) { return s }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw FarmTestError.timeout(what, logs)
    }

    /// Every process's log, named, and whether it still runs: what a timeout or a failure reports.
    var logs: String {
        let children =
            [("coordinator", coordinator)] + workers.enumerated().map { ("worker w\($0.offset)", $0.element) }
        return children.compactMap { name, child in
            child.map {
                "--- \(name) (\($0.process.isRunning ? "running" : "exited \($0.process.terminationStatus)")):\n\($0.output)"
            }
        }.joined(separator: "\n")
    }

    func finish(_ job: JobID, seconds: Double = 90) throws -> [UInt8] {
        let s = try waitFor("job \(job) to end", seconds: seconds) {
            $0.jobs.first { $0.id == job }?.state.isFinal ?? false
        }
        let state = s.jobs.first { $0.id == job }!
        guard state.state == .done else { throw FarmTestError.failed(state.detail ?? "", logs) }
        return try client.output(job: job)
    }

    deinit {
        workers.forEach { $0.stop() }
        coordinator?.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

enum FarmTestError: Error {
    case timeout(String, String)
    case failed(String, String)
}

/// The small job every farm test renders: 96×64 in three stages (coarse 48×32, then two tiled passes).
enum SmallJob {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Assets/demo")

    static var spec: JobSpec {
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        var job = PosterJob(content: blank, styles: [(blank, 1)], width: 96, height: 64)
        job.coarseSize = 48
        job.tileSize = 48
        job.overlap = 8
        job.margin = 8
        job.iterations = [10, 24]
        job.styleSize = 96
        job.options.loss.contentWeight = 2000
        job.options.loss.tvWeight = 10
        return JobSpec(name: "small", poster: job.settings, styleWeights: [1], crop: true)
    }

    static func submit(_ client: FarmClient) throws -> JobID {
        try client.submit(
            spec, content: [UInt8](try Data(contentsOf: assets.appendingPathComponent("chelsea.png"))),
            styles: [[UInt8](try Data(contentsOf: assets.appendingPathComponent("hokusai_great_wave.jpg")))])
    }

    /// The fault-free output with two workers, rendered once and shared by the tests.
    static let reference: Result<[UInt8], Error> = Result {
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        try farm.startWorker()
        return try farm.finish(try submit(farm.client))
    }
}

/// Multi-process farm tests on loopback. Serialized: each runs a coordinator and workers on 2 cores.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FarmProcessTests {
    @Test func twoWorkersFinishAndOneWorkerGivesTheSameBytes() throws {
        let two = try SmallJob.reference.get()
        #expect(two.count > 1000 && two.prefix(4) == [0x89, 0x50, 0x4E, 0x47])
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        let one = try farm.finish(try SmallJob.submit(farm.client))
        #expect(one == two, "the output must not depend on how many workers rendered it")
        // Fetched again in chunks of 1000 bytes from a coordinator that serves it so: the same bytes.
        farm.coordinator?.signal(SIGTERM)
        farm.coordinator?.process.waitUntilExit()
        try farm.startCoordinator(extra: ["--dashboard", "off", "--output-chunk-bytes", "1000"])
        let jobs = try farm.waitFor("the restarted coordinator", seconds: 30) { !$0.jobs.isEmpty }.jobs
        #expect(
            try farm.client.output(job: try #require(jobs.first).id) == two,
            "\(two.count) bytes in \((two.count + 999) / 1000) chunks")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("farm-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(two).write(to: file)
        let decoded = try ImageIO.read(file)
        #expect(decoded.image.width == 96 && decoded.image.height == 64 && decoded.bitDepth == 16)
    }

    /// A two-worker farm running the small job, with worker w0 stopped (SIGSTOP) while it holds a lease of a
    /// tiled stage: stopped first, then checked, so it cannot finish the tile between the check and the fault.
    func farmWithW0StoppedMidTile() throws -> (TestFarm, JobID) {
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        try farm.startWorker()
        let job = try SmallJob.submit(farm.client)
        func holdsTiledLease(_ s: StatusReplyBody) -> Bool {
            (s.jobs.first?.stage ?? 0) >= 1 && s.workers.contains { $0.name == "w0" && !$0.leases.isEmpty }
        }
        for _ in 0 ..< 20 {
            _ = try farm.waitFor("w0 to hold a tiled lease", seconds: 60, holdsTiledLease)
            farm.workers[0].signal(SIGSTOP)
            if holdsTiledLease(try farm.client.status()) { return (farm, job) }
            farm.workers[0].signal(SIGCONT)  // it finished the tile just before the stop: try the next one
        }
        throw FarmTestError.timeout("w0 stopped mid-tile", farm.coordinator?.output ?? "")
    }

    @Test func workerKilledMidTileIsRequeuedAndTheOutputIsUnchanged() throws {
        let reference = try SmallJob.reference.get()
        let (farm, job) = try farmWithW0StoppedMidTile()
        farm.workers[0].signal(SIGKILL)
        let out = try farm.finish(job)
        #expect(out == reference, "a requeued tile must render to the same bytes")
        #expect(farm.coordinator!.output.contains("requeued"))
    }

    /// When w0 wakes, its lease is gone: the coordinator's `reject` (sent when it requeued the tile) reaches it and
    /// it abandons the tile, saying so (which frees any credit the coordinator still counts); had it finished the
    /// tile first, its late result would have been rejected instead. Either way nothing of it lands.
    @Test func stoppedWorkerLosesItsLeaseAndItsLateWorkIsRefused() throws {
        let reference = try SmallJob.reference.get()
        let (farm, job) = try farmWithW0StoppedMidTile()
        _ = try farm.waitFor("w0 to be declared lost", seconds: 10) { s in !s.workers.contains { $0.name == "w0" } }
        farm.workers[0].signal(SIGCONT)
        let out = try farm.finish(job)
        #expect(out == reference)
        _ = try farm.waitFor("w0's late work to be refused", seconds: 30) { _ in
            farm.coordinator!.output.contains("rejected a result from w0")
                || farm.coordinator!.output.contains("gave up stale lease")
        }
        #expect(
            try farm.waitFor("w0 to take tiles again", seconds: 30) { s in s.workers.contains { $0.name == "w0" } }
                .workers.count == 2)
    }

    /// Also: worker w1 has no weights of its own, so the coordinator sends them.
    @Test func workersStartedBeforeTheCoordinatorJoinAndAWorkerWithoutWeightsFetchesThem() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        try farm.startWorker()
        try farm.startWorker(extra: ["--weights", farm.dir.appendingPathComponent("none.sfw").path])
        Thread.sleep(forTimeInterval: 1.5)
        try farm.startCoordinator()
        _ = try farm.waitFor("both workers to join", seconds: 20) { $0.workers.count == 2 }
        #expect(try farm.finish(try SmallJob.submit(farm.client)) == reference)
        #expect(farm.workers[1].output.contains("received and cached"), Comment(rawValue: farm.workers[1].output))
        let cached = try FileManager.default.contentsOfDirectory(
            atPath: farm.dir.appendingPathComponent("cache1/weights").path)
        #expect(cached.count == 1 && cached[0].hasSuffix(".sfw"))
    }

    /// With `--canvas-memory 0` the coordinator holds no canvas in memory: content and start are resized per tile
    /// and strip from the source and the journal's canvas on disk, stages are blended strip by strip, and the
    /// output is written from the canvas file. The bytes must be those of the in-memory reference.
    @Test func coordinatorKilledAndRestartedResumesWithoutRedoingTiles() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let onDisk = ["--dashboard", "off", "--canvas-memory", "0"]
        try farm.startCoordinator(extra: onDisk)
        try farm.startWorker()
        try farm.startWorker()
        let job = try SmallJob.submit(farm.client)
        let before = try farm.waitFor("some tiled tiles to finish", seconds: 60) { s in
            guard let j = s.jobs.first else { return false }
            return j.stage >= 1 && j.tilesDone >= 3
        }.jobs[0]
        farm.coordinator!.signal(SIGKILL)
        farm.coordinator!.stop()
        try farm.startCoordinator(extra: onDisk)
        let after = try farm.waitFor("the job to be restored", seconds: 20) { s in s.jobs.first?.state == .running }
            .jobs[0]
        #expect(
            after.tilesDone >= before.tilesDone,
            "finished tiles survive a kill -9 (before \(before.tilesDone), after \(after.tilesDone))")
        #expect(try farm.finish(job) == reference)
        let log = farm.coordinator!.output
        #expect(log.contains("resumes stage") || after.stage > before.stage, Comment(rawValue: log))
    }

    @Test func jobWhoseWorkersAllDiedWaitsAndTheCoordinatorStillAnswers() throws {
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        let job = try SmallJob.submit(farm.client)
        _ = try farm.waitFor("the worker to take a tile", seconds: 30) { s in s.workers.contains { !$0.leases.isEmpty }
        }
        farm.workers[0].signal(SIGKILL)
        let s = try farm.waitFor("the job to say it waits", seconds: 10) { s in
            s.workers.isEmpty && s.jobs.first?.detail == "waiting for workers: none connected"
        }
        #expect(s.jobs[0].state == .running)
        let cancelled = try farm.client.cancel(job: job)
        #expect(cancelled.job?.state == .cancelled)
    }

    @Test func badRequestsGetClearErrors() throws {
        let farm = try TestFarm()
        try farm.startCoordinator()
        _ = try farm.waitFor("the coordinator", seconds: 10) { _ in true }
        var spec = SmallJob.spec
        spec.poster.tileSize = 8
        #expect(throws: FarmClient.ClientError.self) { try farm.client.submit(spec, content: [1, 2, 3], styles: [[4]]) }
        // A corrupt image fails the job with a reason naming it, and the coordinator carries on.
        let job = try farm.client.submit(SmallJob.spec, content: Array("not an image".utf8), styles: [[0x89, 0x50]])
        let s = try farm.waitFor("the job to fail", seconds: 20) { $0.jobs.first?.state == .failed }
        #expect(s.jobs[0].id == job && (s.jobs[0].detail ?? "").contains("content image"))
        #expect(throws: FarmClient.ClientError.self) { try farm.client.status(job: "nope") }
    }

    /// Docs/operations.md, "Determinism": with one-thread workers the farm renders `render --threads 1`'s bytes.
    /// Also covers the embedded farm handing its output over by copying the coordinator's file. Masked: perceptual
    /// control (Docs/perceptual-control.md) on the farm: two regions of a region mask, each in its own style, the
    /// styles colour-matched and scaled each on its own; the masks travel with the tiles.
    @Test(arguments: [false, true])
    func anEmbeddedFarmRendersTheBytesOfTheSingleProcessRender(masked: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "embedded-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let content = SmallJob.assets.appendingPathComponent("chelsea.png")
        var control: [String] = []
        if masked {
            // The content's size: the left part black, the right white, along a diagonal.
            let image = try ImageIO.read(content).image
            var mask = PlanarImage(width: image.width, height: image.height, channels: 1, fill: 0)
            for y in 0 ..< mask.height {
                for x in 0 ..< mask.width where x > mask.width / 3 + y / 2 { mask[0, y, x] = 1 }
            }
            let url = dir.appendingPathComponent("regions.png")
            try ImageIO.write(mask, to: url, bitDepth: 8)
            control = [
                SmallJob.assets.appendingPathComponent("turner_shipwreck_of_the_minotaur.jpg").path, "--region-mask",
                url.path,
                "--region", "black=1", "--region", "white=2:2", "--region-feather", "0.05", "--color-match",
                "--style-scale", "1,0.75"
            ]
        }
        func render(_ name: String, _ extra: [String]) throws -> Data {
            let out = dir.appendingPathComponent(name)
            let child = try Child(
                ["render", content.path, SmallJob.assets.appendingPathComponent("hokusai_great_wave.jpg").path]
                    + control
                    + [
                        "-o", out.path, "--width", "96", "--height", "64", "--coarse-size", "48", "--tile", "48",
                        "--overlap", "8",
                        "--margin", "8", "--level-iterations", "6,4", "--style-size", "96", "--threads", "1"
                    ] + extra,
                log: dir.appendingPathComponent(name + ".log"))
            child.process.waitUntilExit()
            #expect(child.process.terminationStatus == 0, Comment(rawValue: child.output))
            return try Data(contentsOf: out)
        }
        let alone = try render("alone.png", [])
        let farm = try render("farm.png", ["--local-farm", "1"])
        #expect(alone.count > 1000 && farm == alone)
    }
}
