import ArgumentParser
import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Imaging
import StyleCore
import Tiling

/// `stylefarm bench-farm --canvas 4096,8192,16384,32768`: the coordinator's memory against the output size.
///
/// One real coordinator process per size renders a square job of that side (coarse 512, then tiled levels of two
/// passes each, 1024-px tiles) with simulated workers in this process: each answers an assignment at once with
/// the tile's start canvas (the core of the start crop it was sent), so compute is replaced but every byte of
/// canvas still flows through the coordinator, its journal and its output writer. The output is a 16-bit PNG
/// (or TIFF, `--canvas-format tiff`) of the content upsampled level by level. Reported per size: wall time, the coordinator's peak resident memory
/// (VmHWM) and CPU, the state directory's peak disk use, and the output file's size.
extension FarmBenchCommand {
    func canvasSimulation(_ weightsURL: URL, sizes: [Int]) throws {
        print("side    megapixels  tiles  wall_s  coord_peak_rss_MiB  coord_cpu_s  peak_disk_GiB  output_MiB")
        for side in sizes {
            let r = try simulateCanvas(side: side, weightsURL: weightsURL)
            print(String(format: "%6d %10.0f %6d %7.0f %19.0f %12.0f %14.1f %11.0f", side, Double(side * side) / 1e6, r.tiles, r.wall,
                         Double(r.peakRSS) / 1048576, r.cpu, Double(r.peakDisk) / 1073741824, Double(r.outputBytes) / 1048576))
            fflush(nil)  // every output stream: a long simulation shows each row as it ends
        }
    }

    struct CanvasResult { var tiles: Int, wall: Double, peakRSS: Int, cpu: Double, peakDisk: Int, outputBytes: Int }

    func simulateCanvas(side: Int, weightsURL: URL) throws -> CanvasResult {
        let state = Self.temporaryState()
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: state) }
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20000 ... 32000))"
        let coordinator = try Self.coordinatorProcess(endpoint: endpoint, state: state, weights: weightsURL,
                                                      extra: ["--liveness", "10", "--canvas-memory", canvasMemory],
                                                      stderr: FileHandle.standardError)
        defer { coordinator.stop() }
        let client = FarmClient(endpoint: endpoint, security: .plaintext, timeout: 30, retries: 3)
        _ = try client.status()
        var spec = Self.spec(width: side, height: side, coarse: 512, tile: 1024, overlap: 64, margin: 32, iterations: [1], localTargets: false)
        spec.name = "canvas-\(side)"
        spec.format = canvasFormat
        let (content, style) = try Self.files()

        let sockets = try (0 ..< canvasWorkers).map { i -> ZMQSocket in
            let s = try ZMQSocket(.dealer)
            try s.setRoutingID(Array("canvas\(i)".utf8))
            try s.connect(endpoint)
            _ = try s.send(Message(.ready, ReadyBody(name: "canvas\(i)", threads: 1, versions: FarmProtocol.versions, busy: [], cores: 1,
                                                     memoryLimit: 1 << 40, speed: 1)).frames)
            return s
        }
        let diskAtStart = Self.usedBytes(state)
        var peakDisk = 0
        let t0 = Date()
        let id = try client.submit(spec, content: content, styles: [style])
        try Self.answerAtOnce(sockets, client: client, job: id, tick: { peakDisk = max(peakDisk, Self.usedBytes(state) - diskAtStart) }) { a, m in
            m.payload.count >= 2 ? Self.core(of: m.payload[1], tile: a.task.tile) : []  // no start crop: a bad result, refused
        }
        let wall = Date().timeIntervalSince(t0)
        let final = try client.status(job: id).jobs[0]
        guard final.state == .done else { throw ValidationError("canvas job \(final.state): \(final.detail ?? "")") }
        let peakRSS = Self.peakRSS(pid: coordinator.processIdentifier)
        let cpu = Self.cpuSeconds(pid: coordinator.processIdentifier)
        let output = state.appendingPathComponent("jobs/\(id)/output.\(canvasFormat)")
        let header = try FileHandle(forReadingFrom: output).read(upToCount: 24) ?? Data()
        if canvasFormat == "png" {
            // The PNG's header must say the requested size (the file is too big to decode here).
            func be32(_ o: Int) -> Int { header.count >= o + 4 ? header[o ..< o + 4].reduce(0) { $0 << 8 | Int($1) } : 0 }
            guard be32(16) == side, be32(20) == side else { throw ValidationError("output header says \(be32(16))x\(be32(20)), not \(side)x\(side)") }
        } else {
            // Little-endian TIFF: 42 classic, 43 BigTIFF (past 4 GiB of samples).
            let version = header.count >= 4 && header.prefix(2) == Data("II".utf8) ? Int(header[2]) : 0
            guard version == 42 || version == 43 else { throw ValidationError("output is not a little-endian TIFF") }
            print("output: \(version == 43 ? "BigTIFF" : "classic TIFF")")
        }
        let bytes = (try FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return CanvasResult(tiles: final.tilesTotal, wall: wall, peakRSS: peakRSS, cpu: cpu, peakDisk: peakDisk, outputBytes: bytes)
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

    /// Bytes in use on the file system that holds `url`.
    static func usedBytes(_ url: URL) -> Int {
        var s = statvfs()
        guard statvfs(url.path, &s) == 0 else { return 0 }
        return Int(s.f_blocks - s.f_bfree) * Int(s.f_frsize)
    }

    /// A process's peak resident memory (VmHWM in /proc/PID/status), in bytes.
    static func peakRSS(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
