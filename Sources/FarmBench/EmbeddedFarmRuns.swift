import FarmClient
import FarmCoordinator
import FarmProtocol
import FarmTransport
import Foundation

extension FarmBench {
    /// One real job on an embedded farm of one-thread workers.
    public struct EfficiencyResult: Sendable {
        public var width: Int, height: Int, tiles: Int, workers: Int
        public var wall: Double
        /// Σ the workers' compute seconds.
        public var compute: Double
        public var efficiency: Double { compute / (Double(workers) * wall) }
        /// The tiled stages' tile compute seconds (the scale simulation's distribution).
        public var tileSeconds: [Double]
        public var wire: WireStats
    }

    /// Efficiency = Σ worker compute seconds / (workers × wall seconds) for one real job of `size` × 2/3·`size`.
    public static func efficiency(weights: URL, workers: Int, size: Int, levelIterations: [Int]) throws
        -> EfficiencyResult
    {
        let (content, style) = try files()
        let h = size * 2 / 3
        let job = spec(
            width: size, height: h, coarse: size / 2, tile: size / 2, overlap: size / 16, margin: size / 32,
            iterations: levelIterations, localTargets: true)
        let state = temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let farm = try LocalFarm(stateDirectory: state, weights: weights, workers: workers, threadsPerWorker: 1)
        defer { farm.shutdown() }
        let client = FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity)
        _ = try client.status()  // the coordinator is up
        let t0 = Date()
        let id = try client.submit(job, content: content, styles: [style])
        let final = try client.wait(job: id, poll: 0.2)
        let wall = Date().timeIntervalSince(t0)
        guard final.state == .done else { throw FarmBenchError("bench job \(final.state): \(final.detail ?? "")") }
        let compute = try client.status().workers.reduce(0) { $0 + $1.computeSeconds }
        let tileTimes = try farm.coordinator.tileRecords(job: id).filter { $0.stage > 0 }.map(\.seconds)
        return EfficiencyResult(
            width: size, height: h, tiles: final.tilesTotal, workers: workers, wall: wall, compute: compute,
            tileSeconds: tileTimes, wire: farm.coordinator.stats)
    }

    /// Tile results through the coordinator when simulated workers answer every assignment at once.
    public struct ThroughputResult: Sendable {
        public var workers: Int, size: Int, results: Int, tileMessages: Int
        public var state: JobState
        public var wall: Double
    }

    /// `workers` simulated workers (DEALERs in this thread, zero pixels, no compute) against an embedded coordinator,
    /// on a `size`² job of 48-px tiles and one iteration.
    public static func throughput(weights: URL, workers: Int, size: Int) throws -> ThroughputResult {
        let (content, style) = try files()
        let job = spec(
            width: size, height: size, coarse: 64, tile: 48, overlap: 8, margin: 4, iterations: [1], localTargets: false
        )
        let state = temporaryState()
        defer { try? FileManager.default.removeItem(at: state) }
        let farm = try LocalFarm(stateDirectory: state, weights: weights, workers: 0, threadsPerWorker: 1)
        defer { farm.shutdown() }
        let endpoint = farm.coordinator.endpoint
        let sockets = try (0 ..< workers).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer)
            try farm.clientSecurity.apply(to: s)
            try s.setRoutingID(Array("sim\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(
                Message(
                    .ready,
                    ReadyBody(
                        name: "sim\(i)", threads: 1, versions: FarmProtocol.versions, weights: nil,
                        busy: [])
                ).frames)
            return s
        }
        let client = FarmClient(endpoint: endpoint, security: farm.clientSecurity)
        let id = try client.submit(job, content: content, styles: [style])
        let t0 = Date()
        try answerAtOnce(sockets, client: client, job: id) { a, _ in
            [UInt8](repeating: 0, count: 12 * a.task.tile.core.area)
        }
        let wall = Date().timeIntervalSince(t0)
        let s = farm.coordinator.stats
        let final = try client.status(job: id).jobs[0]
        return ThroughputResult(
            workers: workers, size: size, results: s.results, tileMessages: s.tileMessages, state: final.state,
            wall: wall)
    }
}
