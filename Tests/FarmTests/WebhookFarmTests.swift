import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Testing

/// A webhook receiver on loopback for one test: a blocking socket server on its own thread that records each request
/// and answers 200, or (`hang`) reads it and never answers.
final class HookReceiver: @unchecked Sendable {  // unchecked: `recorded` and `held` are under `lock`
    struct Request {
        var method: String
        var path: String
        /// Header names in lower case.
        var headers: [String: String]
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    let port: Int
    let hang: Bool
    let listener: Int32
    let lock = NSLock()
    var recorded: [Request] = []
    var held: [Int32] = []

    /// Listens on 127.0.0.1:`port` (0: any free port).
    init(port: Int = 0, hang: Bool = false) throws {
        self.hang = hang
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0
                    && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            throw FarmTestError.failed(
                "the webhook receiver cannot listen on \(port)", String(cString: strerror(errno)))
        }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var requests: [Request] { lock.withLock { recorded } }

    /// Waits until `count` requests have arrived (at most `seconds`); returns them all.
    func waitFor(_ count: Int, seconds: Double) -> [Request] {
        let deadline = Date().addingTimeInterval(seconds)
        while requests.count < count && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return requests
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        lock.withLock { held.forEach { close($0) } }
    }

    deinit { stop() }

    func serve() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard let request = read(fd) else {
                close(fd)
                continue
            }
            lock.withLock { recorded.append(request) }
            if hang {
                lock.withLock { held.append(fd) }
            } else {
                let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
            }
        }
    }

    /// One request: the head up to the blank line, then Content-Length bytes of body (answering `Expect: 100-continue`).
    func read(_ fd: Int32) -> Request? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        func more() -> Bool {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { bytes += buffer[0 ..< n] }
            return n > 0
        }
        let separator = Array("\r\n\r\n".utf8)
        var end: Int?
        while end == nil {
            guard more() else { return nil }
            end = bytes.indices.dropLast(3).first { bytes[$0 ..< $0 + 4].elementsEqual(separator) }
        }
        guard let end else { return nil }
        let lines = String(decoding: bytes[0 ..< end], as: UTF8.self).components(separatedBy: "\r\n")
        let first = lines[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        if headers["expect"]?.lowercased() == "100-continue" {
            let go = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            _ = go.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        while bytes.count < end + 4 + length { guard more() else { return nil } }
        return Request(
            method: first.first.map(String.init) ?? "", path: first.count > 1 ? String(first[1]) : "", headers: headers,
            body: Array(bytes[(end + 4) ..< (end + 4 + length)]))
    }
}

/// The coordinator tells its operator (Docs/operations.md, "Webhooks"), and `stylefarm wait`: coordinator, worker and
/// receiver as processes on loopback.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebhookFarmTests {
    static let key = "test-webhook-key-0123456789"

    /// Writes the test's HMAC key to a file in the farm's directory.
    static func keyFile(_ farm: TestFarm) throws -> String {
        let file = farm.dir.appendingPathComponent("webhook.key")
        try Data((key + "\n").utf8).write(to: file)
        return file.path
    }

    /// `stylefarm ARGS --connect FARM --insecure`, to its end.
    static func cli(_ farm: TestFarm, _ args: [String], timeout: Double = 120) throws -> CommandResult {
        try runCommand([Child.executable.path] + args + ["--connect", farm.endpoint, "--insecure"], timeout: timeout)
    }

    /// The signature verifies with the key, and the headers agree with the body.
    static func checkSigned(_ r: HookReceiver.Request) {
        #expect(r.method == "POST" && r.path == "/hook" && r.headers["content-type"] == "application/json")
        #expect(
            WebhookSignature.verify(
                r.headers["stylefarm-signature"] ?? "", body: r.body, key: Array(key.utf8),
                now: Date().timeIntervalSince1970), "\(r.headers)")
        #expect(r.headers["stylefarm-event"] == r.json["event"] as? String)
        #expect(r.headers["stylefarm-delivery"] == r.json["id"] as? String && (r.json["id"] as? String)?.count == 36)
    }

    /// A failed, a cancelled and a done job post one signed event each, and a killed worker one more; `wait` exits 0
    /// for the done job (fetching its output), 1 for the cancelled one, and 124 when --max-wait passes first.
    @Test func eachEndingAndALostWorkerPostOneSignedEventAndWaitExitsAsSubmit() throws {
        let receiver = try HookReceiver()
        let farm = try TestFarm()
        try farm.startCoordinator(extra: [
            "--dashboard", "off", "--webhook", receiver.url, "--webhook-secret-file", try Self.keyFile(farm)
        ])
        _ = try farm.waitFor("the coordinator", seconds: 10) { _ in true }

        let failed = try farm.client.submit(SmallJob.spec, content: Array("not an image".utf8), styles: [[0x89, 0x50]])
        _ = try farm.waitFor("the bad job to fail", seconds: 20) { $0.jobs.first { $0.id == failed }?.state == .failed }

        let cancelled = try SmallJob.submit(farm.client)  // no worker yet: it waits
        let waited = try Self.cli(farm, ["wait", cancelled.rawValue, "--max-wait", "0.5"], timeout: 30)
        #expect(waited.status == 124 && waited.output.contains("stopped waiting"), "\(waited.output)")
        let waiter = try Child(
            ["wait", cancelled.rawValue, "--connect", farm.endpoint, "--insecure"],
            log: farm.dir.appendingPathComponent("wait.log"))
        Thread.sleep(forTimeInterval: 1)
        _ = try farm.client.cancel(job: cancelled)
        waiter.process.waitUntilExit()
        #expect(waiter.process.terminationStatus == 1 && waiter.output.contains("cancelled"), "\(waiter.output)")

        try farm.startWorker()
        let done = try SmallJob.submit(farm.client)
        let file = farm.dir.appendingPathComponent("waited.png")
        let finished = try Self.cli(farm, ["wait", done.rawValue, "--output", file.path], timeout: 180)
        #expect(finished.status == 0 && finished.output.contains("wrote \(file.path)"), "\(finished.output)")
        let output = try farm.client.output(job: done)
        #expect([UInt8](try Data(contentsOf: file)) == output)

        farm.workers[0].signal(SIGKILL)
        let requests = receiver.waitFor(4, seconds: 30)
        Thread.sleep(forTimeInterval: 1)  // nothing more comes
        #expect(receiver.requests.count == 4, "\(receiver.requests.map { String(decoding: $0.body, as: UTF8.self) })")
        requests.forEach(Self.checkSigned)
        let byEvent = Dictionary(grouping: requests) { $0.headers["stylefarm-event"] ?? "" }
        #expect(byEvent.mapValues(\.count) == ["job.failed": 1, "job.cancelled": 1, "job.done": 1, "worker.lost": 1])

        func job(_ event: String) -> [String: Any] { byEvent[event]?.first?.json["job"] as? [String: Any] ?? [:] }
        #expect(
            job("job.failed")["id"] as? String == failed.rawValue && job("job.failed")["state"] as? String == "failed")
        #expect((job("job.failed")["detail"] as? String ?? "").contains("content image"))
        #expect(
            job("job.cancelled")["id"] as? String == cancelled.rawValue
                && job("job.cancelled")["state"] as? String == "cancelled")
        let doneJob = job("job.done")
        #expect(
            doneJob["id"] as? String == done.rawValue && doneJob["name"] as? String == "small"
                && doneJob["owner"] as? String == "insecure")
        let started = doneJob["started"] as? Double ?? 0, ended = doneJob["finished"] as? Double ?? 0
        #expect(started > 1_700_000_000 && ended >= started)
        let out = doneJob["output"] as? [String: Any] ?? [:]
        #expect((out["path"] as? String ?? "").hasSuffix(".png") && out["bytes"] as? Int == output.count, "\(out)")
        let worker = byEvent["worker.lost"]?.first?.json["worker"] as? [String: Any] ?? [:]
        // Killed, it is unreachable at the next heartbeat, or silent.
        let reason = worker["reason"] as? String ?? ""
        #expect(
            worker["name"] as? String == "w0" && (reason == "unreachable" || reason.hasPrefix("silent for")),
            "\(worker)")
        #expect(
            worker["machine"] as? String == ProcessInfo.processInfo.hostName
                && (worker["requeued"] as? [Any])?.isEmpty == true)
    }

    /// A receiver that refuses connections is tried again, 1, 2, 4 s apart; meanwhile the farm answers at once and goes
    /// on. Once the receiver listens, the waiting events arrive, each once.
    @Test func aReceiverThatIsDownIsRetriedWhileTheFarmGoesOn() throws {
        let port = TestFarm.freePort()
        let farm = try TestFarm()
        try farm.startCoordinator(extra: [
            "--dashboard", "off", "--webhook", "http://127.0.0.1:\(port)/hook",
            "--webhook-secret-file", try Self.keyFile(farm)
        ])
        _ = try farm.waitFor("the coordinator", seconds: 10) { _ in true }
        let first = try farm.client.submit(SmallJob.spec, content: [1, 2, 3], styles: [[4]])
        _ = try farm.waitFor("the first job to fail", seconds: 20) {
            $0.jobs.first { $0.id == first }?.state == .failed
        }
        let second = try farm.client.submit(SmallJob.spec, content: [1, 2, 3], styles: [[4]])
        _ = try farm.waitFor("the second job to fail", seconds: 20) {
            $0.jobs.first { $0.id == second }?.state == .failed
        }
        var slowest = 0.0
        for _ in 0 ..< 10 {
            let start = Date()
            _ = try farm.client.status()
            slowest = max(slowest, Date().timeIntervalSince(start))
        }
        #expect(slowest < 1, "status took \(slowest) s while the webhook is down")
        Thread.sleep(forTimeInterval: 1.5)
        #expect((farm.coordinator?.output ?? "").contains("webhook try 1 failed"), "\(farm.coordinator?.output ?? "")")
        let receiver = try HookReceiver(port: port)
        let requests = receiver.waitFor(2, seconds: 20)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(receiver.requests.count == 2)
        requests.forEach(Self.checkSigned)
        let ids = Set(requests.compactMap { ($0.json["job"] as? [String: Any])?["id"] as? String })
        #expect(ids == [first.rawValue, second.rawValue])
    }

    /// A receiver that takes the request and never answers delays nothing: status answers at once and the next job
    /// ends while the delivery hangs; the try times out and is made again with the same delivery id, then given up.
    @Test func aReceiverThatNeverAnswersDelaysNothing() throws {
        let receiver = try HookReceiver(hang: true)
        let farm = try TestFarm()
        try farm.startCoordinator(extra: [
            "--dashboard", "off", "--webhook", receiver.url, "--webhook-secret-file", try Self.keyFile(farm),
            "--webhook-timeout", "3", "--webhook-attempts", "2"
        ])
        _ = try farm.waitFor("the coordinator", seconds: 10) { _ in true }
        let first = try farm.client.submit(SmallJob.spec, content: [1, 2, 3], styles: [[4]])
        #expect(receiver.waitFor(1, seconds: 20).count == 1, "the first event is being posted")
        let hung = Date()
        var slowest = 0.0
        for _ in 0 ..< 10 {
            let start = Date()
            _ = try farm.client.status()
            slowest = max(slowest, Date().timeIntervalSince(start))
        }
        let second = try farm.client.submit(SmallJob.spec, content: [1, 2, 3], styles: [[4]])
        _ = try farm.waitFor("the second job to fail", seconds: 20) {
            $0.jobs.first { $0.id == second }?.state == .failed
        }
        #expect(Date().timeIntervalSince(hung) < 3, "all of it while the first delivery hangs (3 s)")
        #expect(slowest < 1, "status took \(slowest) s while a delivery hangs")
        // Two tries of each event (the second one waits behind the first), the same id on both tries of one event.
        let requests = receiver.waitFor(4, seconds: 30)
        #expect(requests.count == 4)
        requests.forEach(Self.checkSigned)
        let byDelivery = Dictionary(grouping: requests) { $0.headers["stylefarm-delivery"] ?? "" }
        #expect(byDelivery.count == 2 && byDelivery.values.allSatisfy { $0.count == 2 })
        let jobs = requests.compactMap { ($0.json["job"] as? [String: Any])?["id"] as? String }
        #expect(Set(jobs) == [first.rawValue, second.rawValue])
        let deadline = Date().addingTimeInterval(10)
        while !(farm.coordinator?.output ?? "").contains("given up after 2 tries") && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect((farm.coordinator?.output ?? "").contains("given up after 2 tries"))
    }

    /// A URL that is not http(s) with a host stops the coordinator at start, saying why.
    @Test func aWebhookThatIsNotHTTPIsRefusedAtStart() throws {
        let farm = try TestFarm()
        for bad in ["ftp://example.com/hook", "example.com/hook", "http://"] {
            let r = try runCommand(
                [
                    Child.executable.path, "coordinator", "--insecure", "--dashboard", "off", "--bind", farm.endpoint,
                    "--state", farm.dir.appendingPathComponent("state").path, "--webhook", bad
                ], timeout: 30)
            #expect(r.status == 64 && r.output.contains("--webhook \(bad)"), "\(r.output)")
        }
    }
}
