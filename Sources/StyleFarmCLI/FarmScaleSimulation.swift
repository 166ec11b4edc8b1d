import ArgumentParser
import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Imaging
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
extension FarmBenchCommand {
    struct ScaleResult {
        var workers: Int, tiles: Int, wall: Double, efficiency: Double, cpuPerTile: Double
        var messagesPerSecond: Double, resultsPerSecond: Double, p50: Double, p99: Double, lost: Int
    }

    func scaleSimulation(_ weightsURL: URL, counts: [Int], shape: [Double]) throws {
        // The tile-time distribution: the measured tiles' times relative to their median (from the efficiency
        // run, when it ran), else a log-normal spread of σ = 0.25; scaled so the median is --tile-seconds.
        let relative: [Double]
        if shape.count >= 4 {
            let median = shape.sorted()[shape.count / 2]
            relative = shape.map { $0 / median }
            print(String(format: "tile times: %d measured tiles from the efficiency run, relative spread %.2f…%.2f of the median",
                         shape.count, relative.min()!, relative.max()!))
        } else {
            var rng = SeededRandom(seed: 7)
            relative = (0 ..< 256).map { _ in
                let u1 = max(1e-12, Double(rng.next() >> 11) / Double(1 << 53)), u2 = Double(rng.next() >> 11) / Double(1 << 53)
                return exp(0.25 * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
            }
            print("tile times: log-normal, σ = 0.25 (no efficiency run to measure them)")
        }
        print(String(format: "median tile time %.2f s; coordinator --heartbeat 2 --liveness 5; %d tiles per worker", tileSeconds, tilesPerWorker))
        print("workers  tiles   wall_s  efficiency  coord_cpu_ms/tile  tile_msgs/s  results/s  sched_p50_ms  sched_p99_ms  lost")
        var results: [ScaleResult] = []
        for n in counts {
            let r = try simulate(workers: n, weightsURL: weightsURL, relative: relative)
            results.append(r)
            print(String(format: "%7d %6d %8.1f %10.1f%% %18.2f %12.0f %10.0f %13.1f %13.1f %5d", r.workers, r.tiles, r.wall, 100 * r.efficiency,
                         1000 * r.cpuPerTile, r.messagesPerSecond, r.resultsPerSecond, 1000 * r.p50, 1000 * r.p99, r.lost))
        }
        // Saturation: the coordinator serves at most 1 / (CPU per tile) results per second on one core; N workers
        // ask for N / (median tile time).
        // The largest run spreads the job's fixed costs (decoding, preparing, writing the output) over the most tiles.
        if let largest = results.max(by: { $0.tiles < $1.tiles }) {
            let capacity = 1 / largest.cpuPerTile
            print(String(format: "one coordinator core serves at most ~%.0f tiles/s (its CPU per tile at %d workers): it saturates near "
                + "%.0f workers at %.1f s per tile, or %.0f workers at 60 s per tile", capacity, largest.workers, capacity * tileSeconds,
                         tileSeconds, capacity * 60))
        }
    }

    func simulate(workers n: Int, weightsURL: URL, relative: [Double]) throws -> ScaleResult {
        let state = Self.temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let port = Int.random(in: 20000 ... 32000)
        let endpoint = "tcp://127.0.0.1:\(port)"
        let coordinator = try Self.coordinatorProcess(endpoint: endpoint, state: state, weights: weightsURL, extra: ["--liveness", "5"], stderr: nil)
        defer { coordinator.stop() }
        let client = FarmClient(endpoint: endpoint, security: .plaintext, timeout: 10, retries: 3)
        _ = try client.status()

        // The job: one tiled stage of about tilesPerWorker × n tiles of 48 px (40 px apart).
        let grid = Int((Double(tilesPerWorker * n)).squareRoot().rounded(.up))
        let side = 40 * grid + 8
        var spec = Self.spec(width: side, height: side, coarse: 64, tile: 48, overlap: 8, margin: 4, iterations: [10], localTargets: false)
        spec.poster.shiftedPass = false
        spec.frame = .init(temporalMask: false)
        let (content, style) = try Self.files()

        let context = ZMQContext(maxSockets: Int32(n + 64))
        func ready(_ i: Int) -> [[UInt8]] {
            Message(.ready, ReadyBody(name: "sim\(i)", threads: 1, versions: FarmProtocol.versions, busy: [], cores: 1,
                                      memoryLimit: 1 << 40, speed: 1)).frames
        }
        let sockets = try (0 ..< n).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer, context: context)
            try s.setRoutingID(Array("sim\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(ready(i))
            return s
        }
        // Registered when the coordinator lists them all; heartbeats keep them alive meanwhile.
        try waitUntil(seconds: 120) {
            for s in sockets {
                while let (frames, _) = try? s.receive(timeout: 0), !frames.isEmpty {}
                _ = try? s.send(Message(.heartbeat).frames)
            }
            return (try? client.status().workers.count) == n
        }
        let cpu0 = Self.cpuSeconds(pid: coordinator.processIdentifier)
        let t0 = Date()
        let id = try client.submit(spec, inputs: [content, style, content])

        var rng = SeededRandom(seed: 11)
        var due: [(time: Double, worker: Int, lease: String, bytes: Int)] = []  // sorted by time, latest first
        var freeSince = [Double?](repeating: nil, count: n)
        var latencies: [Double] = []
        var busy = 0.0, firstAssign: Double?, lastResult = 0.0
        var lastBeat = 0.0, lastPoll = 0.0, lost = 0
        var done = false
        let clock = ContinuousClock.now
        func now() -> Double { let d = clock.duration(to: .now); return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        while !done {
            var idle = true
            let t = now()
            for (i, s) in sockets.enumerated() {
                while let (frames, _) = try s.receive(timeout: 0), let m = try? Message(frames: frames) {
                    idle = false
                    switch m.command {
                    case .assign:
                        guard let a = try? m.decode(AssignBody.self) else { continue }
                        if let since = freeSince[i] { latencies.append(t - since) }
                        freeSince[i] = nil
                        firstAssign = firstAssign ?? t
                        let seconds = tileSeconds * relative[Int(rng.next() % UInt64(relative.count))]
                        busy += seconds
                        let item = (time: t + seconds, worker: i, lease: a.lease, bytes: 12 * a.task.tile.core.area)
                        let at = due.firstIndex { $0.time < item.time } ?? due.count
                        due.insert(item, at: at)
                    case .reject:
                        // A straggler copy lost (or a lease lapsed): stop "rendering" it, as a real worker does.
                        guard let r = try? m.decode(RejectBody.self), let at = due.firstIndex(where: { $0.lease == r.lease }) else { continue }
                        busy -= max(0, due[at].time - t)
                        due.remove(at: at)
                        freeSince[i] = t
                    case .error:
                        lost += 1
                        _ = try s.send(ready(i))
                    default:
                        break
                    }
                }
            }
            while let last = due.last, last.time <= now() {
                due.removeLast()
                _ = try sockets[last.worker].send(Message(.result, ResultBody(lease: last.lease, seconds: tileSeconds, loss: 0),
                                                          payload: [[UInt8](repeating: 0, count: last.bytes)]).frames)
                freeSince[last.worker] = now()
                lastResult = now()
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
        let wall = Date().timeIntervalSince(t0)
        let cpu = Self.cpuSeconds(pid: coordinator.processIdentifier) - cpu0
        let final = try client.status(job: id).jobs[0]
        guard final.state == .done else { throw ValidationError("scale job \(final.state): \(final.detail ?? "")") }
        let stageWall = max(1e-9, lastResult - (firstAssign ?? lastResult))
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))] }
        let tiles = final.tilesTotal
        // Tile messages: one assign and one result per tile (no progress from simulated workers).
        return ScaleResult(workers: n, tiles: tiles, wall: wall, efficiency: busy / (Double(n) * stageWall), cpuPerTile: cpu / Double(tiles),
                           messagesPerSecond: Double(2 * tiles) / stageWall, resultsPerSecond: Double(tiles) / stageWall,
                           p50: pct(0.5), p99: pct(0.99), lost: lost)
    }

    func waitUntil(seconds: Double, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw ValidationError("timed out after \(Int(seconds)) s")
    }

    /// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
