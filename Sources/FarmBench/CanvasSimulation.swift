import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Tiling

/// `stylefarm bench-farm --canvas 4096,8192,16384,32768`: the coordinator's memory against the output size.
///
/// One real coordinator process per size renders a square job of that side (coarse 512, then tiled levels of two
/// passes each, 1024-px tiles) with simulated workers in this process: each answers an assignment at once with
/// the tile's start canvas (the core of the start crop it was sent), so compute is replaced but every byte of
/// canvas still flows through the coordinator, its journal and its output writer. The output is a 16-bit PNG
/// (or TIFF) of the content upsampled level by level. Reported per size: wall time, the coordinator's peak
/// resident memory (VmHWM) and CPU, the state directory's peak disk use, and the output file's size.
extension FarmBench {
    public struct CanvasResult: Sendable {
        public var side: Int, tiles: Int, wall: Double, peakRSS: Int, cpu: Double, peakDisk: Int, outputBytes: Int
        /// For a TIFF: whether it became a BigTIFF (past 4 GiB of samples).
        public var bigTIFF: Bool?
    }

    /// One real coordinator process (`executable`, `--canvas-memory canvasMemory`) renders a `side`² job with
    /// `workers` simulated workers that answer with the start canvas; `format` is png or tiff.
    public static func simulateCanvas(
        _ executable: URL, weights: URL, side: Int, workers: Int, canvasMemory: String,
        format: String
    ) throws -> CanvasResult {
        let state = temporaryState()
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: state) }
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20000 ... 32000))"
        let coordinator = try coordinatorProcess(
            executable, endpoint: endpoint, state: state, weights: weights,
            extra: ["--liveness", "10", "--canvas-memory", canvasMemory],
            stderr: FileHandle.standardError)
        defer { coordinator.stop() }
        let client = FarmClient(endpoint: endpoint, security: .plaintext, timeout: 30, retries: 3)
        _ = try client.status()
        var job = spec(
            width: side, height: side, coarse: 512, tile: 1024, overlap: 64, margin: 32, iterations: [1],
            localTargets: false)
        job.name = "canvas-\(side)"
        job.format = format
        let (content, style) = try files()

        let sockets = try (0 ..< workers).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer)
            try s.setRoutingID(Array("canvas\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(
                Message(
                    .ready,
                    ReadyBody(
                        name: "canvas\(i)", threads: 1, versions: FarmProtocol.versions, busy: [], cores: 1,
                        memoryLimit: 1 << 40, speed: 1)
                ).frames)
            return s
        }
        let diskAtStart = ProcessStats.usedBytes(state)
        var peakDisk = 0
        let t0 = Date()
        let id = try client.submit(job, content: content, styles: [style])
        try answerAtOnce(
            sockets, client: client, job: id,
            tick: { peakDisk = max(peakDisk, ProcessStats.usedBytes(state) - diskAtStart) }
        ) { a, m in
            // no start crop: a bad result, refused
            m.payload.count >= 2 ? core(of: m.payload[1], tile: a.task.tile) : []
        }
        let wall = Date().timeIntervalSince(t0)
        let final = try client.status(job: id).jobs[0]
        guard final.state == .done else { throw FarmBenchError("canvas job \(final.state): \(final.detail ?? "")") }
        let peakRSS = ProcessStats.peakRSS(pid: coordinator.processIdentifier)
        let cpu = ProcessStats.cpuSeconds(pid: coordinator.processIdentifier)
        let output = state.appendingPathComponent("jobs/\(id)/output.\(format)")
        let header = try FileHandle(forReadingFrom: output).read(upToCount: 24) ?? Data()
        let bigTIFF = try checkHeader(header, format: format, side: side)
        let bytes = (try FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return CanvasResult(
            side: side, tiles: final.tilesTotal, wall: wall, peakRSS: peakRSS, cpu: cpu, peakDisk: peakDisk,
            outputBytes: bytes, bigTIFF: bigTIFF)
    }

    /// Checks an output's first bytes: a PNG's header says `side` x `side`, a TIFF is little-endian; returns whether
    /// the TIFF is a BigTIFF (nil for a PNG).
    static func checkHeader(_ header: Data, format: String, side: Int) throws -> Bool? {
        if format == "png" {
            // The PNG's header must say the requested size (the file is too big to decode here).
            func be32(_ o: Int) -> Int {
                header.count >= o + 4 ? header[o ..< o + 4].reduce(0) { $0 << 8 | Int($1) } : 0
            }
            guard be32(16) == side, be32(20) == side else {
                throw FarmBenchError("output header says \(be32(16))x\(be32(20)), not \(side)x\(side)")
            }
        } else {
            // Little-endian TIFF: 42 classic, 43 BigTIFF (past 4 GiB of samples).
            let version = header.count >= 4 && header.prefix(2) == Data("II".utf8) ? Int(header[2]) : 0
            guard version == 42 || version == 43 else { throw FarmBenchError("output is not a little-endian TIFF") }
            return version == 43
        }
        return nil
    }

    /// The core of a tile, cut from the float32 planar bytes of its render rectangle.
    static func core(of render: [UInt8], tile: Tile) -> [UInt8] {
        let r = tile.render, c = tile.core, row = 4 * c.width
        var out = [UInt8](repeating: 0, count: 12 * c.area)
        for ch in 0 ..< 3 {
            for y in 0 ..< c.height {
                let sourceRow: Int = ch * r.height + c.y - r.y + y
                let from: Int = 4 * (sourceRow * r.width + c.x - r.x)
                let to: Int = (ch * c.height + y) * row
                out.replaceSubrange(to ..< to + row, with: render[from ..< from + row])
            }
        }
        return out
    }
}
