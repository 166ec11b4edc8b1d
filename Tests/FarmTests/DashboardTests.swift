import Dashboard
import FarmMonitor
import Foundation
import FoundationNetworking
import Testing

#if canImport(FoundationNetworking)
#endif

/// HTTP GET with a time limit: (status, body).
func httpGet(_ url: String, headers: [String: String] = [:]) throws -> (Int, Data) {
    try httpRequest("GET", url, headers: headers)
}

extension TestFarm {
    /// The dashboard's base URL, from the coordinator's log line.
    func dashboardURL() throws -> String {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let line = coordinator?.output.split(separator: "\n").first(where: { $0.hasPrefix("dashboard: ") }) {
                return String(line.dropFirst("dashboard: ".count).prefix { $0 != "?" && $0 != "#" })
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw FarmTestError.timeout("the dashboard to start", coordinator?.output ?? "")
    }
}

/// The dashboard, API and metrics against a real job on loopback, and headless Chromium on the page.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DashboardTests {
    @Test func apiMetricsPreviewAndPageShowARunningJob() throws {
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0"])
        try farm.startWorker()
        try farm.startWorker()
        let base = try farm.dashboardURL()
        let job = try SmallJob.submit(farm.client)
        // Mid-render: a tiled stage with some tiles done.
        _ = try farm.waitFor("tiled tiles to finish", seconds: 90) { s in
            guard let j = s.jobs.first else { return false }
            return j.stage >= 1 && j.tilesDone >= 3 && !j.state.isFinal
        }
        Thread.sleep(forTimeInterval: 1)  // a snapshot after those tiles
        let (code, body) = try httpGet(base + "api/status")
        #expect(code == 200)
        let snapshot = try JSONDecoder().decode(FarmSnapshot.self, from: body)
        let view = try #require(snapshot.jobs.first { $0.status.id == job })
        #expect(view.level >= 1 && view.pass.contains("tiles") && !view.tiles.isEmpty)
        #expect(view.tiles.allSatisfy { ["pending", "rendering", "done"].contains($0.state) })
        #expect(view.tiles.contains { $0.state == "done" } || view.status.stage > 1)
        #expect(snapshot.workers.count == 2 && snapshot.workers.allSatisfy { ($0.silentFor ?? 99) < 3 })

        let (pcode, png) = try httpGet(base + "api/jobs/\(job)/preview.png")
        #expect(pcode == 200 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        #expect(try httpGet(base + "api/jobs/nope").0 == 404)
        #expect(try httpGet(base + "no/such/route").0 == 404)

        let metrics = String(decoding: try httpGet(base + "metrics").1, as: UTF8.self)
        func value(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Double($0.split(separator: " ")[1])
            }
        }
        #expect((value("stylefarm_tiles_done_total") ?? 0) >= 1, Comment(rawValue: metrics))
        #expect(value("stylefarm_workers_alive") == 2)
        #expect((value("stylefarm_bytes_in_total") ?? 0) > 10_000 && (value("stylefarm_bytes_out_total") ?? 0) > 10_000)
        #expect(metrics.contains("stylefarm_tile_seconds_bucket"))

        // The event stream pushes snapshots.
        let event = try firstEvent(base + "api/events")
        let pushed = try JSONDecoder().decode(FarmSnapshot.self, from: Data(event.utf8))
        #expect(pushed.jobs.contains { $0.status.id == job })

        // Headless Chromium runs the page's JavaScript: the tile grid and the preview must show progress.
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let browser = try #require(
            chromium, "headless Chromium is needed (scripts/test.sh installs the Debian package chromium)")
        let dom = try runChromium(browser, ["--dump-dom", base + "?poll=1"])
        #expect(dom.contains("rect class=\"tile done\""), Comment(rawValue: String(dom.prefix(3000))))
        #expect(dom.contains("data-loaded=\"1\""), "the preview image loaded")
        #expect(dom.contains("class=\"worker\""))
        _ = try farm.finish(job)
    }

    @Test func tokenIsRequiredWhenSetAndFailuresAreCounted() throws {
        let farm = try TestFarm()
        // From a file (first line), so it is not on the command line for `ps` to show.
        let file = farm.dir.appendingPathComponent("token")
        try Data("s3cret\nignored\n".utf8).write(to: file)
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0", "--dashboard-token-file", file.path])
        let base = try farm.dashboardURL()
        #expect(try httpGet(base + "api/status").0 == 401)
        #expect(try httpRequest("GET", base + "api/status", token: "wrong").0 == 401)
        #expect(try httpRequest("GET", base + "api/status", token: "s3cret").0 == 200)
        #expect(
            try httpGet(base + "api/status?token=s3cret").0 == 400,
            "a token in a URL is refused: proxies and logs keep URLs")
        let (code, metrics) = try httpGet(base + "metrics", headers: ["Authorization": "Bearer s3cret"])
        #expect(code == 200 && String(decoding: metrics, as: UTF8.self).contains("stylefarm_auth_failures_total 3"))
    }

    /// The dashboard's own limits, on a server in this process: probes need no token, and event streams are capped.
    @Test func healthNeedsNoTokenAndEventStreamsAreCapped() throws {
        let server = DashboardServer(
            monitor: FarmMonitor(), host: "127.0.0.1", port: 0, access: DashboardAccess(viewToken: "t"),
            maxEventStreams: 2)
        try server.start()
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)/"
        let (code, body) = try httpGet(base + "healthz")
        #expect(code == 200 && String(decoding: body, as: UTF8.self) == "ok\n")
        #expect(try httpGet(base + "api/status").0 == 401, "everything else still needs the token")
        let streams = try (0 ..< 2).map { _ in try EventStream(base + "api/events", token: "t") }
        for s in streams { _ = try s.firstEvent() }
        #expect(try httpRequest("GET", base + "api/events", token: "t").0 == 503, "a third stream is refused")
        #expect(try httpRequest("GET", base + "api/status", token: "t").0 == 200, "polling still works")
        streams[0].close()
        var reopened = false
        for _ in 0 ..< 50 where !reopened {  // the server notices the closed stream at its next write (≤ 1 s)
            Thread.sleep(forTimeInterval: 0.1)
            reopened = (try? firstEvent(base + "api/events", token: "t")) != nil
        }
        #expect(reopened, "a closed stream frees its place")
        streams[1].close()
    }
}

/// Runs headless Chromium (as root it needs --no-sandbox) with a virtual time budget so the page's scripts run.
func runChromium(_ path: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: profile) }
    p.arguments =
        (path.hasSuffix("headless-shell") ? [] : ["--headless"])
        + [
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--log-level=3",
            "--user-data-dir=\(profile.path)",
            "--virtual-time-budget=5000"
        ] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    killer.cancel()
    return String(decoding: data, as: UTF8.self)
}

/// Reads the first Server-Sent Event's data from a URL over a raw socket (the stream never ends).
func firstEvent(_ url: String, token: String? = nil) throws -> String {
    let stream = try EventStream(url, token: token)
    defer { stream.close() }
    return try stream.firstEvent()
}

/// A Server-Sent Events request over a raw socket, held open until `close`.
final class EventStream {
    let fd: Int32
    let url: String

    init(_ url: String, token: String? = nil) throws {
        self.url = url
        let u = URL(string: url)!
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(u.port!).bigEndian)
        addr.sin_addr.s_addr = inet_addr(u.host!)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw FarmTestError.failed("connect to \(url)", "")
        }
        let target = u.path + (u.query.map { "?" + $0 } ?? "")
        let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let request = "GET \(target) HTTP/1.1\r\nHost: \(u.host!)\r\nAccept: text/event-stream\r\n\(auth)\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
    }

    var received = [UInt8]()
    var consumed = 0

    /// The first event's data; throws with what arrived when the answer is not a stream.
    func firstEvent() throws -> String { try nextEvent().data }

    /// The next event (past comments): its name ("message" when it has none) and data. The response is chunked:
    /// chunk-size lines are dropped.
    func nextEvent() throws -> (name: String, data: String) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let text = String(decoding: received, as: UTF8.self)
            if text.hasPrefix("HTTP/"), text.contains("\r\n"), !text.hasPrefix("HTTP/1.1 200") {
                throw FarmTestError.failed("no stream from \(url)", text)
            }
            let rest = text.dropFirst(consumed)
            if let data = rest.range(of: "data: "),
                let end = rest.range(of: "\n\n", range: data.upperBound ..< rest.endIndex)
            {
                let head = rest[..<data.lowerBound]
                let name =
                    head.range(of: "event: ").map { String(head[$0.upperBound...].prefix { $0 != "\n" }) } ?? "message"
                consumed = text.distance(from: text.startIndex, to: end.upperBound)
                return (name, String(rest[data.upperBound ..< end.lowerBound]))
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw FarmTestError.failed("no event from \(url)", text) }
            received += buffer[0 ..< n]
        }
    }

    func close() { Glibc.close(fd) }
}
