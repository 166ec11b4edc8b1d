import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import HeadlessBrowser
import StyleCore

/// `stylefarm bench-farm --control-room`: what the control room costs on a big farm. One real coordinator process
/// serving its dashboard, `workers` simulated workers (as in the scale simulation) rendering `jobs` jobs at once,
/// and headless Chromium on the page.
///
/// Measured: the coordinator's CPU (its utime + stime from /proc, the dashboard server included) over a window
/// without the page, an equal window with it open, and one more without it (the farm's own load drifts as its jobs
/// progress, so the page's cost is the middle window against the mean of the other two); the page's first render (navigation start to the jobs
/// and workers tables drawn, layout included, from `performance.now()`) and the wall time until then as the bench
/// sees it; each later batch of changes' render milliseconds; the event stream's bytes per second.
extension FarmBench {
    public struct ControlRoomResult: Sendable {
        public var workers: Int, jobs: Int, tiles: Int, window: Double
        /// Coordinator CPU as a fraction of one core: without the page, with it open, without it again.
        public var cpuBefore: Double, cpuWith: Double, cpuAfter: Double
        /// Results per second in each window (the farm keeps working while the page watches).
        public var resultsBefore: Double, resultsWith: Double, resultsAfter: Double
        /// The page's first render (ms since navigation start) and the bench's wall time to it (ms).
        public var firstRenderMs: Double, loadWallMs: Double
        /// Render milliseconds of each batch of changes after the first: median, p99, max, and how many.
        public var flushP50: Double, flushP99: Double, flushMax: Double, flushes: Int
        /// Event-stream bytes and `changes` events per second while the page was open.
        public var streamBytesPerSecond: Double, changeEventsPerSecond: Double
    }

    public static func simulateControlRoom(
        _ executable: URL, weights: URL, workers n: Int, jobs: Int, tileSeconds: Double,
        window: Double, relative: [Double]
    ) throws -> ControlRoomResult {
        guard HeadlessBrowser.isAvailable else { throw FarmBenchError(noChromium) }
        let state = temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let port = Int.random(in: 20000 ... 32000), httpPort = port + 1
        let endpoint = "tcp://127.0.0.1:\(port)"
        let coordinator = try coordinatorProcess(
            executable, endpoint: endpoint, state: state, weights: weights,
            extra: ["--liveness", "5", "--dashboard", "127.0.0.1:\(httpPort)"], stderr: nil)
        defer { coordinator.stop() }
        let client = FarmClient(endpoint: endpoint, security: .plaintext, timeout: 10, retries: 3)
        _ = try client.status()
        let sockets = try registerSimulatedWorkers(n, endpoint: endpoint, client: client)
        // Each job: one tiled stage; together they have enough tiles to outlast the warm-up and the three windows.
        try submitPosters(
            client, jobs: jobs,
            tilesPerJob: Int((Double(n) * (3 * window + 40) / tileSeconds * 1.5 / Double(jobs)).rounded(.up)))

        let loop = SimulatedFarmLoop(
            sockets: sockets, work: SimulatedWork(workers: n, tileSeconds: tileSeconds, relative: relative))
        let thread = Thread { loop.run() }
        thread.stackSize = 1 << 22
        thread.start()
        defer { loop.stop() }

        // Warm-up: every job's targets computed (a forward pass of the style per job), every worker busy.
        Thread.sleep(forTimeInterval: 30)
        let before = rates(pid: coordinator.processIdentifier, loop: loop, seconds: window)

        let browser = try HeadlessBrowser()
        defer { browser.close() }
        let t0 = Date()
        try browser.navigate("http://127.0.0.1:\(httpPort)/")
        try browser.waitFor("document.body.dataset.ready === '1'", timeout: 60, what: "the control room's first render")
        let loadWall = Date().timeIntervalSince(t0) * 1000
        let firstRender = (try browser.evaluate("window.renderMs") as? Double) ?? .nan
        _ = try browser.evaluate(
            "window.pageStats.flushes = []; window.pageStats.streamBytes = 0; window.pageStats.changeEvents = 0")
        let with = rates(pid: coordinator.processIdentifier, loop: loop, seconds: window)
        let stats = try browser.evaluate("JSON.stringify(window.pageStats)") as? String ?? "{}"
        browser.close()
        let after = rates(pid: coordinator.processIdentifier, loop: loop, seconds: window)
        struct PageStats: Decodable { var flushes: [Double], streamBytes: Double, changeEvents: Double }
        let page = try JSONDecoder().decode(PageStats.self, from: Data(stats.utf8))
        let flushes = page.flushes.sorted()
        let tiles = try client.status().jobs.reduce(0) { $0 + $1.tilesTotal }
        return ControlRoomResult(
            workers: n, jobs: jobs, tiles: tiles, window: window, cpuBefore: before.cpu, cpuWith: with.cpu,
            cpuAfter: after.cpu, resultsBefore: before.results, resultsWith: with.results,
            resultsAfter: after.results, firstRenderMs: firstRender,
            loadWallMs: loadWall, flushP50: percentile(flushes, 0.5), flushP99: percentile(flushes, 0.99),
            flushMax: flushes.last ?? 0,
            flushes: flushes.count, streamBytesPerSecond: page.streamBytes / window,
            changeEventsPerSecond: page.changeEvents / window)
    }

    static let noChromium =
        "--control-room needs headless Chromium (the Debian package chromium; scripts/test.sh installs it)"

    /// The coordinator's CPU seconds per second and the results per second over `seconds`.
    static func rates(pid: Int32, loop: SimulatedFarmLoop, seconds: Double) -> (cpu: Double, results: Double) {
        let cpu0 = ProcessStats.cpuSeconds(pid: pid), r0 = loop.results, t0 = Date()
        Thread.sleep(forTimeInterval: seconds)
        let wall = Date().timeIntervalSince(t0)
        return ((ProcessStats.cpuSeconds(pid: pid) - cpu0) / wall, Double(loop.results - r0) / wall)
    }

    /// `jobs` posters of one tiled stage of about `tilesPerJob` tiles each.
    static func submitPosters(_ client: FarmClient, jobs: Int, tilesPerJob: Int) throws {
        let (content, style) = try files()
        for j in 0 ..< jobs {
            var job = scaleJob(workers: max(1, tilesPerJob / 4), tilesPerWorker: 4)
            job.name = "poster-\(j + 1)"
            _ = try client.submit(job, inputs: [content, style, content])
        }
    }
}

/// The simulated workers' loop on a thread of its own (the bench's main thread drives the browser meanwhile):
/// answers assignments when their simulated time is up and heartbeats every 0.5 s, until stopped.
// unchecked: `sockets` (libzmq handles) and `work` belong to `run`'s thread; `stopped`, `finished` are under `lock`.
final class SimulatedFarmLoop: @unchecked Sendable {
    private let sockets: [ZMQSocket]
    private var work: SimulatedWork
    private let lock = NSLock()
    private var stopped = false, finished = 0
    private let done = DispatchSemaphore(value: 0)

    init(sockets: [ZMQSocket], work: SimulatedWork) {
        self.sockets = sockets
        self.work = work
    }

    /// Results sent so far.
    var results: Int { lock.withLock { finished } }

    func run() {
        defer { done.signal() }
        let clock = ContinuousClock.now
        var lastBeat = 0.0
        while !lock.withLock({ stopped }) {
            var idle = true
            let t = clock.elapsedSeconds
            for (i, s) in sockets.enumerated() {
                while let (frames, _, _) = try? s.receive(timeout: 0), let m = try? Message(frames: frames) {
                    idle = false
                    if let reply = work.receive(m, worker: i, at: t) { _ = try? s.send(reply) }
                }
            }
            let due = work.results(dueBy: clock.elapsedSeconds)
            for (worker, frames) in due { _ = try? sockets[worker].send(frames) }
            if !due.isEmpty {
                idle = false
                lock.withLock { finished += due.count }
            }
            if clock.elapsedSeconds - lastBeat > 0.5 {
                for s in sockets { _ = try? s.send(Message(.heartbeat).frames) }
                lastBeat = clock.elapsedSeconds
            }
            if idle { usleep(200) }
        }
    }

    /// Ends the loop and waits for it.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }; return !stopped
        }
        if first { done.wait() }
    }
}
