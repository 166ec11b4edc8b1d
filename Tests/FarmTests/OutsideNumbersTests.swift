import FarmProtocol
import FarmTestSupport
import Foundation
import Testing

/// Numbers from outside never trap (Docs/security.md, "Numbers from outside"): the one conversion, the decode-time
/// bounds of every message field, and a scan that fails when a farm source converts to an integer any other way.
@Suite struct OutsideNumbersTests {
    @Test func saturatingConversionNeverTraps() {
        #expect(Int(saturating: .nan) == 0)
        #expect(Int(saturating: .infinity) == .max)
        #expect(Int(saturating: -.infinity) == .min)
        #expect(Int(saturating: 1e300) == .max)
        #expect(Int(saturating: -1e19) == .min)
        #expect(Int(saturating: 9.3e18) == .max)
        #expect(Int(saturating: 9_223_372_036_854_775_808.0) == .max, "2^63 is one past Int.max")
        #expect(Int(saturating: -9_223_372_036_854_775_808.0) == .min)
        #expect(
            Int(saturating: 9_223_372_036_854_774_784.0) == 9_223_372_036_854_774_784,
            "the largest double below 2^63 converts")
        #expect(Int(saturating: 12.9) == 12 && Int(saturating: -12.9) == -12)
        #expect(Int(refusing: 1e300, in: 0 ... 10) == nil && Int(refusing: .nan, in: 0 ... 10) == nil)
        #expect(Int(refusing: 7.5, in: 0 ... 10) == 7 && Int(refusing: 11, in: 0 ... 10) == nil)
    }

    /// The `ready` that killed the coordinator (issue 34): each bad speed is refused at decode, naming the field.
    @Test(arguments: [1e300, -1e19, 9.3e18, -1, 2e12])
    func aReadyWithAnImpossibleSpeedIsRefusedAtDecode(speed: Double) throws {
        let m = Message(
            .ready, ReadyBody(name: "w", threads: 1, versions: FarmProtocol.versions, busy: [], speed: speed))
        #expect(throws: ProtocolError.self) { try m.decode(ReadyBody.self) }
        do { _ = try m.decode(ReadyBody.self) } catch { #expect("\(error)".contains("ready: speed")) }
        let fine = Message(
            .ready, ReadyBody(name: "w", threads: 1, versions: FarmProtocol.versions, busy: [], speed: 12_345))
        #expect(try fine.decode(ReadyBody.self).speed == 12_345)
    }

    /// The same `ready` at the coordinator's core: refused with an `error` naming the field, counted, the worker not
    /// registered, and the core still answers a good `ready` from the same peer.
    @Test func theCoordinatorRefusesTheReadyThatKilledItAndKeepsGoing() throws {
        var h = CoreHarness()
        for speed in [1e300, -1e19, 9.3e18] { h.ready("w", speed: speed) }
        let errors = h.sent(to: "w", .error, as: ErrorBody.self)
        #expect(
            errors.count == 3 && errors.allSatisfy { $0.code == "body" && $0.message.contains("speed") }, "\(errors)")
        #expect(h.metrics.filter { $0 == .messageDropped }.count == 3)
        #expect(h.sent(to: "w", .welcome, as: WelcomeBody.self).isEmpty)
        h.ready("w", speed: 12_000)
        #expect(h.sent(to: "w", .welcome, as: WelcomeBody.self).count == 1)
    }

    /// Every optional and numeric field of the worker's and coordinator's bodies, past its bound, names itself.
    @Test func everyBoundedFieldIsRefusedByName() throws {
        func refused<T: Codable & WireValidated>(_ value: T, _ command: Command, _ field: String) -> Bool {
            do { _ = try Message(command, value).decode(T.self); return false } catch {
                return "\(error)".contains(field)
            }
        }
        let ready = ReadyBody(name: "w", threads: 1, versions: [1], busy: [])
        var r = ready; r.threads = Int.max
        #expect(refused(r, .ready, "threads"))
        r = ready; r.cores = -1
        #expect(refused(r, .ready, "cores"))
        r = ready; r.memoryLimit = Int.min
        #expect(refused(r, .ready, "memoryLimit"))
        r = ready; r.busy = Array(repeating: "e-1", count: WireLimits.busyLeases + 1)
        #expect(refused(r, .ready, "busy"))
        r = ready; r.name = ""
        #expect(refused(r, .ready, "name"))
        r = ready; r.weights = "../../etc/passwd"
        #expect(refused(r, .ready, "weights"))
        let welcome = WelcomeBody(worker: "w-1", heartbeatSeconds: 1, liveness: 3, weights: "abc", weightsBytes: 10)
        var w = welcome; w.heartbeatSeconds = 1e300
        #expect(
            refused(w, .welcome, "heartbeatSeconds"),
            "a hostile coordinator's heartbeat once reached Int(...) in a worker's log")
        w = welcome; w.liveness = Int.max
        #expect(refused(w, .welcome, "liveness"))
        w = welcome; w.weightsBytes = -1
        #expect(refused(w, .welcome, "weightsBytes"))
        #expect(refused(ProgressBody(lease: "e-1", iteration: -1, iterations: 2, loss: 1), .progress, "iteration"))
        #expect(
            refused(
                ResultBody(
                    lease: LeaseToken(String(repeating: "e", count: WireLimits.idLength + 1)), seconds: 1, loss: 1),
                .result,
                "lease"))
        #expect(refused(FetchBody(kind: "passwords", sha256: "ab"), .fetch, "kind"))
        #expect(refused(ControlBody(.priority, job: "j1", priority: Int.min), .control, "priority"))
        #expect(
            refused(
                FailedBody(lease: "e-1", reason: String(repeating: "x", count: WireLimits.textLength + 1)), .failed,
                "reason"))
        var status = JobStatus(
            id: "j1", name: "n", priority: 50, state: .running, stage: 0, stages: 1, tilesDone: 0, tilesTotal: 1,
            workFraction: 0.5, elapsed: 1)
        status.workFraction = 1e300
        #expect(
            refused(StatusReplyBody(jobs: [status], workers: []), .statusReply, "workFraction"),
            "a client's progress bar once drew Int(workFraction * 30) blocks")
    }

    /// The scan: in the targets that read outside data, every conversion to an integer type is one of the labelled,
    /// non-trapping ones (`saturating:`, `refusing:`, `exactly:`, `clamping:`, `truncatingIfNeeded:`, `bitPattern:`)
    /// or says on its line, or in a comment on the line above, why it cannot trap (`// safe-int:` and a reason: a widening,
    /// a failable parse of text).
    @Test func noUnexplainedIntegerConversionInTheFarmsSources() throws {
        let violations = try Self.scan(Self.repository.appendingPathComponent("Sources"))
        #expect(
            violations.isEmpty,
            "integer conversions that may trap on outside data:\n\(violations.joined(separator: "\n"))")
    }

    /// The scan finds what it is for (so an empty result above means something).
    @Test func theScanFindsATrappingConversion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString)")
        let target = dir.appendingPathComponent("FarmCoordinator")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        let a = Int(body.speed)
        let b = Int(saturating: body.speed)
        let c = UInt32(x)  // safe-int: a widening
        // Int(comment) is not code
        let d = Int64(exactly: y)
        let e = Int32((z * 2).rounded())
        // safe-int: a widening, said above a line too long for it
        let f = UInt64(w)
        let g = Int(v)
        """.write(to: target.appendingPathComponent("X.swift"), atomically: true, encoding: .utf8)
        let found = try Self.scan(dir)
        #expect(
            found.count == 3 && found[0].hasSuffix("X.swift:1: let a = Int(body.speed)") && found[1].contains(":6:")
                && found[2].contains(":9:"), "\(found)")
    }

    /// Targets whose code reads what peers, files on disk, HTTP requests or the command line give it.
    static let scannedTargets = [
        "FarmProtocol", "FarmCoordinator", "FarmScheduler", "FarmWorker", "FarmTransport", "FarmMonitor",
        "FarmClient", "Dashboard", "JobModel", "Rendering", "StyleFarmCLI"
    ]

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static func scan(_ sources: URL) throws -> [String] {
        let conversion = try Regex(
            #"\b(U?Int(8|16|32|64)?)\((?!(saturating|refusing|exactly|clamping|truncatingIfNeeded|bitPattern):)"#)
        var found: [String] = []
        for target in scannedTargets {
            let dir = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in files where file.pathExtension == "swift" {
                let lines = try String(contentsOf: file, encoding: .utf8).split(
                    separator: "\n", omittingEmptySubsequences: false)
                for (i, line) in lines.enumerated() {
                    let code = line.trimmingCharacters(in: .whitespaces)
                    let above = i > 0 ? lines[i - 1].trimmingCharacters(in: .whitespaces) : ""
                    guard !code.hasPrefix("//"), !code.contains("// safe-int:"), !above.hasPrefix("// safe-int:"),
                        code.contains(conversion)
                    else { continue }
                    found.append("\(target)/\(file.lastPathComponent):\(i + 1): \(code)")
                }
            }
        }
        return found.sorted()
    }
}
