import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import StyleCore

/// The farm's benchmarks and simulations (`stylefarm bench-farm`), as library code: each run returns its numbers
/// and the CLI prints them. Docs/performance.md has the results and what each measures.
public enum FarmBench {
    /// The demo's content and style image files (Assets/demo, from the working directory).
    public static func files() throws -> (content: [UInt8], style: [UInt8]) {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Assets/demo")
        return (
            [UInt8](try Data(contentsOf: root.appendingPathComponent("chelsea.png"))),
            [UInt8](try Data(contentsOf: root.appendingPathComponent("hokusai_great_wave.jpg")))
        )
    }

    /// A benchmark job: the default losses, one style, the content cropped to the size.
    public static func spec(
        width: Int, height: Int, coarse: Int, tile: Int, overlap: Int, margin: Int, iterations: [Int],
        localTargets: Bool
    ) -> JobSpec {
        var settings = PosterSettings(width: width, height: height)
        (settings.coarseSize, settings.tileSize, settings.overlap, settings.margin, settings.iterations) = (
            coarse, tile, overlap, margin, iterations
        )
        settings.localTargets = localTargets
        return JobSpec(name: "bench", poster: settings, styleWeights: [1], crop: true)
    }

    /// The value at fraction `p` of `sorted` values (0 for none): a latency's p50 or p99.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        // safe-int: p is in 0...1, so this is at most a count
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]
    }

    /// A fresh state directory under the temporary directory.
    public static func temporaryState() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "stylefarm-bench-\(getpid())-\(UInt32.random(in: 0 ... .max))")
    }

    /// A coordinator process of `executable` on `endpoint` (plaintext, no dashboard, heartbeat 2 s).
    static func coordinatorProcess(
        _ executable: URL, endpoint: String, state: URL, weights: URL, extra: [String],
        stderr: FileHandle?
    ) throws -> Process {
        let coordinator = Process()
        coordinator.executableURL = executable
        coordinator.arguments =
            [
                "coordinator", "--bind", endpoint, "--state", state.path, "--weights", weights.path, "--insecure",
                "--dashboard", "off", "--heartbeat", "2"
            ] + extra
        coordinator.standardError = stderr ?? FileHandle.nullDevice
        try coordinator.run()
        return coordinator
    }

    /// Simulated workers on `sockets` that answer every assignment at once with `answer`'s result payload, and
    /// heartbeat every 0.5 s (then also calling `tick`), until the job ends.
    static func answerAtOnce(
        _ sockets: [ZMQSocket], client: FarmClient, job id: JobID,
        tick: () -> Void = {}, answer: (AssignBody, Message) -> [UInt8]
    ) throws {
        var lastBeat = Date.distantPast, lastPoll = Date()
        var done = false
        while !done {
            var idle = true
            for s in sockets {
                while let (frames, _, _) = try s.receive(timeout: 0), let m = try? Message(frames: frames) {
                    idle = false
                    guard m.command == .assign, let a = try? m.decode(AssignBody.self) else { continue }
                    _ = try s.send(
                        Message(.result, ResultBody(lease: a.lease, seconds: 0, loss: 0), payload: [answer(a, m)])
                            .frames)
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

    /// Polls `condition` every 0.25 s for up to `seconds`.
    static func waitUntil(seconds: Double, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw FarmBenchError("timed out after \(Int(seconds)) s")
    }
}

/// A benchmark that could not complete.
public struct FarmBenchError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// What /proc says about a process.
enum ProcessStats {
    /// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A process's peak resident memory (VmHWM in /proc/PID/status), in bytes.
    static func peakRSS(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// Bytes in use on the file system that holds `url`.
    static func usedBytes(_ url: URL) -> Int {
        var s = statvfs()
        guard statvfs(url.path, &s) == 0 else { return 0 }
        return Int(s.f_blocks - s.f_bfree) * Int(s.f_frsize)
    }
}

extension Process {
    /// Terminates the process and waits for it.
    func stop() {
        terminate()
        waitUntilExit()
    }
}
