import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Testing

/// Inputs bounded by the job (Docs/security.md, "Inputs bounded by the job"), with real processes: a decompression
/// bomb keeps the coordinator's memory to what the job uses, and a job the coordinator died preparing twice is failed
/// at the next start instead of killing it again.
@Suite(.serialized, .timeLimit(.minutes(5))) struct InputBombTests {
    /// A 16384x16384 RGB PNG of one grey, about 0.8 MB: 805 MB of pixels when decoded whole (the bomb).
    static func bomb(_ url: URL, side: Int = 16384) throws {
        let script = """
            import struct, sys, zlib
            side = \(side)
            def chunk(kind, data):
                return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
            z = zlib.compressobj(9)
            row = b'\\x00' + b'\\x80' * (3 * side)
            idat = b''.join(z.compress(row) for _ in range(side)) + z.flush()
            with open(sys.argv[1], 'wb') as f:
                f.write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 8, 2, 0, 0, 0))
                        + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
            """
        let result = try runCommand(["python3", "-c", script, url.path], timeout: 120)
        try #require(result.status == 0, "python3 wrote the bomb: \(result.output)")
    }

    /// The coordinator's peak resident memory (VmHWM), in bytes.
    static func peakMemory(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// Two bombs as content and style of a 64x64 render: read reduced (1/256) as they are decoded, the job renders
    /// and the coordinator stays under 1 GiB (it reached 7.4 GB decoding them whole).
    @Test func twoDecompressionBombsKeepTheCoordinatorUnderOneGiB() throws {
        let farm = try TestFarm()
        let bomb = farm.dir.appendingPathComponent("bomb.png")
        try Self.bomb(bomb)
        let bytes = [UInt8](try Data(contentsOf: bomb))
        #expect(bytes.count < 1_500_000, "\(bytes.count) bytes declare 16384x16384 pixels")
        try farm.startCoordinator()
        try farm.startWorker()
        var spec = SmallJob.spec
        (spec.poster.width, spec.poster.height, spec.poster.coarseSize, spec.poster.styleSize) = (64, 64, 64, 64)
        spec.poster.options.iterations = 5  // untiled (64 px, coarse 64): one optimisation of options.iterations
        let job = try farm.client.submit(spec, content: bytes, styles: [bytes])
        let output = try farm.finish(job, seconds: 120)
        #expect(output.count > 100)
        let pid = try #require(farm.coordinator?.process.processIdentifier)
        let peak = Self.peakMemory(pid)
        print("coordinator peak memory with two 16384x16384 inputs of a 64x64 job: \(peak >> 20) MiB")
        #expect(peak > 0 && peak < 1 << 30, "peak \(peak >> 20) MiB")
    }

    /// A job whose preparation was under way when the coordinator died twice (the journal says so: `preparing` is 2)
    /// is failed at the next start with that reason, and the next job renders.
    @Test func aJobTheCoordinatorDiedPreparingTwiceIsFailedAtTheNextStart() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let state = farm.dir.appendingPathComponent("state")
        do {
            let journal = try Journal(directory: state)
            let content = [UInt8](try Data(contentsOf: SmallJob.assets.appendingPathComponent("chelsea.png")))
            _ = try journal.add(job: "jdeadly", spec: SmallJob.spec, inputs: [content, content], submitted: 0)
            try journal.preparationBegan(job: "jdeadly")  // the first death
            #expect(try journal.jobs().jobs.first?.problem == nil, "one death is forgiven")
            try journal.preparationBegan(job: "jdeadly")  // the second
        }
        try farm.startCoordinator()
        try farm.startWorker()
        let failed = try farm.waitFor("the deadly job to fail", seconds: 30) {
            $0.jobs.first { $0.id == "jdeadly" }?.state == .failed
        }
        let detail = failed.jobs.first { $0.id == "jdeadly" }?.detail ?? ""
        #expect(detail.contains("died 2 times while preparing it"), "\(detail)")
        #expect(try farm.finish(try SmallJob.submit(farm.client), seconds: 120) == reference, "the farm goes on")
    }
}
