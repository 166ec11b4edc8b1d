import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import StyleCore

/// `stylefarm bench-farm --scale 10,100,1000`: one real coordinator process against N simulated workers.
///
/// The simulated workers speak the protocol on N DEALER sockets in this process (their own libzmq context), and
/// "render" each assigned tile by waiting a time drawn from a tile-time distribution, then sending a result of
/// the tile's size (zero pixels). The job is one tiled stage (a video-frame job: no coarse levels, no shifted
/// pass) with about `tilesPerWorker × N` tiles, so every N sees the same number of rounds.
///
/// Measured per N: the coordinator process's CPU per tile (its utime + stime from /proc), tile messages per
/// second through it, scheduling latency (from a worker's `result` to its next `assign`, as the workers see it:
/// this includes their own loop's delay, about 1 ms per 1,000 sockets), and efficiency = Σ simulated render
/// seconds / (N × the stage's wall seconds, first assign to last result).
extension FarmBench {
    public struct ScaleResult: Sendable {
        public var workers: Int, tiles: Int, wall: Double, efficiency: Double, cpuPerTile: Double
        public var messagesPerSecond: Double, resultsPerSecond: Double, p50: Double, p99: Double, lost: Int
    }

    /// The tile-time distribution relative to its median: measured tile times (`shape`, 4 or more), else a
    /// log-normal spread of σ = 0.25 (256 draws, seeded).
    public static func relativeTileTimes(_ shape: [Double]) -> [Double] {
        if shape.count >= 4 {
            let median = shape.sorted()[shape.count / 2]
            return shape.map { $0 / median }
        }
        var rng = SeededRandom(seed: 7)
        return (0 ..< 256).map { _ in
            let u1 = max(1e-12, Double(rng.next() >> 11) / Double(1 << 53)),
                u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return exp(0.25 * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
        }
    }

    /// One real coordinator process (`executable`) against `n` simulated workers whose tile times are `tileSeconds`
    /// × a draw from `relative`.
    public static func simulateScale(
        _ executable: URL, weights: URL, workers n: Int, tileSeconds: Double, tilesPerWorker: Int,
        relative: [Double]
    ) throws -> ScaleResult {
        let state = temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let port = Int.random(in: 20000 ... 32000)
        let endpoint = "tcp://127.0.0.1:\(port)"
        let coordinator = try coordinatorProcess(
            executable, endpoint: endpoint, state: state, weights: weights, extra: ["--liveness", "5"], stderr: nil)
        defer { coordinator.stop() }
        let client = FarmClient(endpoint: endpoint, security: .plaintext, timeout: 10, retries: 3)
        _ = try client.status()

        let job = scaleJob(workers: n, tilesPerWorker: tilesPerWorker)
        let (content, style) = try files()
        let sockets = try registerSimulatedWorkers(n, endpoint: endpoint, client: client)
        let cpu0 = ProcessStats.cpuSeconds(pid: coordinator.processIdentifier)
        let t0 = Date()
        let id = try client.submit(job, inputs: [content, style, content])

        var work = SimulatedWork(workers: n, tileSeconds: tileSeconds, relative: relative)
        try drive(sockets, &work, client: client, job: id)
        let wall = Date().timeIntervalSince(t0)
        let cpu = ProcessStats.cpuSeconds(pid: coordinator.processIdentifier) - cpu0
        let final = try client.status(job: id).jobs[0]
        guard final.state == .done else { throw FarmBenchError("scale job \(final.state): \(final.detail ?? "")") }
        let stageWall = max(1e-9, work.lastResult - (work.firstAssign ?? work.lastResult))
        let latencies = work.latencies.sorted()
        let tiles = final.tilesTotal
        // Tile messages: one assign and one result per tile (no progress from simulated workers).
        return ScaleResult(
            workers: n, tiles: tiles, wall: wall, efficiency: work.busy / (Double(n) * stageWall),
            cpuPerTile: cpu / Double(tiles), messagesPerSecond: Double(2 * tiles) / stageWall,
            resultsPerSecond: Double(tiles) / stageWall, p50: percentile(latencies, 0.5),
            p99: percentile(latencies, 0.99), lost: work.lost)
    }

    /// Answers the coordinator for the simulated workers (assignments taken, results sent when due, heartbeats)
    /// until the job ends.
    static func drive(_ sockets: [ZMQSocket], _ work: inout SimulatedWork, client: FarmClient, job id: JobID) throws {
        var lastBeat = 0.0, lastPoll = 0.0
        var done = false
        let clock = ContinuousClock.now
        func now() -> Double { clock.elapsedSeconds }
        while !done {
            var idle = true
            let t = now()
            for (i, s) in sockets.enumerated() {
                while let (frames, _, _) = try s.receive(timeout: 0), let m = try? Message(frames: frames) {
                    idle = false
                    if let reply = work.receive(m, worker: i, at: t) { _ = try s.send(reply) }
                }
            }
            for (worker, frames) in work.results(dueBy: now()) {
                _ = try sockets[worker].send(frames)
                idle = false
            }
            if now() - lastBeat > 0.5 {
                for s in sockets { _ = try s.send(Message(.heartbeat).frames) }
                lastBeat = now()
            }
            if now() - lastPoll > 0.5 {
                done = try client.status(job: id).jobs.first?.state.isFinal ?? true
                lastPoll = now()
            }
            if idle { usleep(200) }
        }
    }

    /// The scale job: one tiled stage (a video frame's: no coarse levels, no shifted pass) of about
    /// `tilesPerWorker × workers` tiles of 48 px, 40 px apart.
    static func scaleJob(workers n: Int, tilesPerWorker: Int) -> JobSpec {
        let grid = Int((Double(tilesPerWorker * n)).squareRoot().rounded(.up))
        let side = 40 * grid + 8
        var job = spec(
            width: side, height: side, coarse: 64, tile: 48, overlap: 8, margin: 4, iterations: [10],
            localTargets: false)
        job.poster.shiftedPass = false
        job.frame = .init(temporalMask: false)
        return job
    }

    /// A simulated worker's `ready`: one thread, ample memory, speed 1.
    static func simulatedReady(_ i: Int) -> [[UInt8]] {
        Message(
            .ready,
            ReadyBody(
                name: "sim\(i)", threads: 1, versions: FarmProtocol.versions, busy: [], cores: 1,
                memoryLimit: 1 << 40, speed: 1)
        ).frames
    }

    /// `n` DEALERs (their own libzmq context) that said `ready`, once the coordinator lists them all; heartbeats
    /// keep them alive meanwhile.
    static func registerSimulatedWorkers(_ n: Int, endpoint: String, client: FarmClient) throws -> [ZMQSocket] {
        let context = ZMQContext(maxSockets: Int32(n + 64))
        let sockets = try (0 ..< n).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer, context: context)
            try s.setRoutingID(Array("sim\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(simulatedReady(i))
            return s
        }
        try waitUntil(seconds: 120) {
            for s in sockets {
                while let (frames, _, _) = try? s.receive(timeout: 0), !frames.isEmpty {}
                _ = try? s.send(Message(.heartbeat).frames)
            }
            return (try? client.status().workers.count) == n
        }
        return sockets
    }
}

/// The simulated workers' tiles: each assignment "renders" until a due time drawn from the tile-time
/// distribution, then its result (zero pixels of the core's size) goes back; and what they measured.
struct SimulatedWork {
    var rng = SeededRandom(seed: 11)
    /// Tiles in progress, sorted by due time, latest first.
    var due: [(time: Double, worker: Int, lease: LeaseToken, bytes: Int)] = []
    /// When each worker last became free (for the scheduling latency), nil while it renders.
    var freeSince: [Double?]
    var latencies: [Double] = []
    /// Simulated render seconds, the first assignment and the last result, and re-registrations.
    var busy = 0.0, firstAssign: Double?, lastResult = 0.0, lost = 0
    let tileSeconds: Double, relative: [Double]

    init(workers n: Int, tileSeconds: Double, relative: [Double]) {
        freeSince = Array(repeating: nil, count: n)
        (self.tileSeconds, self.relative) = (tileSeconds, relative)
    }

    /// A message to worker `i` at time `t`; returns the frames to answer with, if any.
    mutating func receive(_ m: Message, worker i: Int, at t: Double) -> [[UInt8]]? {
        switch m.command {
        case .assign:
            guard let a = try? m.decode(AssignBody.self) else { return nil }
            if let since = freeSince[i] { latencies.append(t - since) }
            freeSince[i] = nil
            firstAssign = firstAssign ?? t
            let seconds = tileSeconds * relative[Int(rng.next() % UInt64(relative.count))]
            busy += seconds
            let item = (time: t + seconds, worker: i, lease: a.lease, bytes: 12 * a.task.tile.core.area)
            due.insert(item, at: due.firstIndex { $0.time < item.time } ?? due.count)
        case .reject:
            // A straggler copy lost (or a lease lapsed): stop "rendering" it, as a real worker does.
            guard let r = try? m.decode(RejectBody.self), let at = due.firstIndex(where: { $0.lease == r.lease }) else {
                return nil
            }
            busy -= max(0, due[at].time - t)
            due.remove(at: at)
            freeSince[i] = t
        case .error:
            lost += 1
            return FarmBench.simulatedReady(i)
        default:
            break
        }
        return nil
    }

    /// The results due by `t`: each worker and the frames of its `result`.
    mutating func results(dueBy t: Double) -> [(worker: Int, frames: [[UInt8]])] {
        var out: [(worker: Int, frames: [[UInt8]])] = []
        while let last = due.last, last.time <= t {
            due.removeLast()
            out.append(
                (
                    last.worker,
                    Message(
                        .result, ResultBody(lease: last.lease, seconds: tileSeconds, loss: 0),
                        payload: [[UInt8](repeating: 0, count: last.bytes)]
                    ).frames
                ))
            freeSince[last.worker] = t
            lastResult = t
        }
        return out
    }
}
