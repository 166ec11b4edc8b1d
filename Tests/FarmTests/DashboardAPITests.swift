import Dashboard
import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmTestSupport
import FarmTransport
import Foundation
import FoundationNetworking
import JobModel
import Testing

/// An HTTP request with a time limit: (status, body).
func httpRequest(
    _ method: String, _ url: String, token: String? = nil, body: Data? = nil, headers: [String: String] = [:]
) throws -> (Int, Data) {
    var request = URLRequest(url: URL(string: url)!, timeoutInterval: 10)
    request.httpMethod = method
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    request.httpBody = body
    if let token { request.setValue("Bearer " + token, forHTTPHeaderField: "Authorization") }
    if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: (Int, Data)?
    nonisolated(unsafe) var failure: Error?
    URLSession.shared.dataTask(with: request) { data, response, error in
        if let error {
            failure = error
        } else {
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
        }
        done.signal()
    }.resume()
    guard done.wait(timeout: .now() + 15) == .success else { throw FarmTestError.timeout("\(method) \(url)", "") }
    if let failure { throw failure }
    return result!
}

/// The control room's API in process (Docs/openapi.yaml): every action and every refusal over HTTP, against the real
/// core (`HarnessConsole`), with key tokens standing for each role.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DashboardAPITests {
    static let tokens: [String: Caller] = [
        "tok-alice": ControlTests.alice, "tok-bob": ControlTests.bob, "tok-root": ControlTests.admin,
        "tok-w": ControlTests.worker
    ]

    /// Alice's job running on worker "w", served with key tokens; no view token (a request without a token views).
    static func serve() throws -> (DashboardServer, HarnessConsole, FarmMonitor, String, JobID) {
        let (h, id) = ControlTests.farm()
        let console = HarnessConsole(h), monitor = FarmMonitor()
        console.publish(to: monitor)
        let access = DashboardAccess(keyToken: { tokens[$0] })
        let server = DashboardServer(monitor: monitor, console: console, host: "127.0.0.1", port: 0, access: access)
        try server.start()
        return (server, console, monitor, "http://127.0.0.1:\(server.port)/", id)
    }

    struct Refusal: Decodable, Equatable { var code: String; var message: String }

    static func refusal(_ answer: (Int, Data)) -> (Int, Refusal?) {
        (answer.0, try? JSONDecoder().decode(Refusal.self, from: answer.1))
    }

    @Test func everyJobActionByItsOwnerAndEveryRefusal() throws {
        let (server, console, _, base, id) = try Self.serve()
        defer { server.stop() }
        func post(_ path: String, _ token: String?, body: String? = nil) throws -> (Int, Data) {
            try httpRequest("POST", base + path, token: token, body: body.map { Data($0.utf8) })
        }
        let job = "api/jobs/\(id)/"
        // Refused before anything happens: a viewer, a worker key, another client, unknown jobs, bad requests.
        let viewer = Self.refusal(try post(job + "pause", nil))
        #expect(
            viewer.0 == 403 && viewer.1?.code == "forbidden" && viewer.1?.message.contains("dashboard-token") == true)
        #expect(Self.refusal(try post(job + "pause", "tok-w")).1?.code == "forbidden")
        let bob = Self.refusal(try post(job + "cancel", "tok-bob"))
        #expect(
            bob.0 == 404 && bob.1?.message == "no job \(id)",
            "another client's job does not exist for bob, as on the wire")
        #expect(
            Self.refusal(try post("api/jobs/nope/pause", "tok-alice")) == (
                404, Refusal(code: "not-found", message: "no job nope")
            ))
        #expect(Self.refusal(try post(job + "retry", "tok-alice")).0 == 409, "a running job is not retried")
        #expect(Self.refusal(try post(job + "requeue", "tok-alice")).0 == 409, "no failed tile")
        #expect(Self.refusal(try post(job + "resume", "tok-alice")).0 == 409, "not paused")
        #expect(Self.refusal(try post(job + "priority", "tok-alice", body: #"{"priority": 500}"#)).1?.code == "invalid")
        #expect(Self.refusal(try post(job + "priority", "tok-alice", body: "not json")).0 == 400)
        #expect(Self.refusal(try post(job + "pause", "wrong-token")).1?.code == "unauthorized")
        #expect(console.with { $0.core.phase(of: id) } == .running(stage: 0), "nothing happened")

        // The owner's actions.
        for (path, body, expected) in [
            ("pause", nil, "paused"), ("resume", nil, "resumed"), ("priority", #"{"priority": 80}"#, "priority 80")
        ] {
            let (code, data) = try post(job + path, "tok-alice", body: body)
            let done = try JSONDecoder().decode(ControlledBody.self, from: data)
            #expect(code == 200 && done.message.contains(expected) && done.job?.id == id, "\(path)")
        }
        #expect(console.with { $0.controls[id]?.priority } == 80)
        let (code, data) = try post(job + "cancel", "tok-alice")
        let cancelled = try JSONDecoder().decode(ControlledBody.self, from: data)
        #expect(code == 200 && cancelled.job?.state == .cancelled)
        let retried = try post(job + "retry", "tok-root")
        #expect(retried.0 == 200, "an admin retries anyone's cancelled job")
        #expect(console.with { $0.core.phase(of: id) } == .preparing(stage: 0))
    }

    @Test func workerActionsAreAnAdminsAndNamedWorkersMustExist() throws {
        let (server, console, monitor, base, _) = try Self.serve()
        defer { server.stop() }
        #expect(Self.refusal(try httpRequest("POST", base + "api/workers/w/drain", token: "tok-alice")).0 == 403)
        #expect(
            Self.refusal(try httpRequest("POST", base + "api/workers/ghost/drain", token: "tok-root")).1?.code
                == "not-found")
        for (action, check) in [("drain", true), ("resume", false)] {
            let (code, data) = try httpRequest("POST", base + "api/workers/w/\(action)", token: "tok-root")
            let done = try JSONDecoder().decode(ControlledBody.self, from: data)
            #expect(code == 200 && done.worker?.draining == (check ? true : nil))
        }
        #expect(try httpRequest("POST", base + "api/workers/w/clear-blocklist", token: "tok-root").0 == 200)
        console.publish(to: monitor)
        let workers = try JSONDecoder().decode(
            [WorkerStatus].self, from: try httpRequest("GET", base + "api/workers").1)
        #expect(workers.map(\.id) == ["w"] && workers[0].keyName == "node7" && workers[0].tilesNow?.count == 1)
    }

    @Test func readsWhoamiJobsFiltersDetailTilesAndTheJobFile() throws {
        let (server, console, monitor, base, id) = try Self.serve()
        defer { server.stop() }
        struct Who: Decodable { var name: String; var role: String }
        #expect(
            try JSONDecoder().decode(Who.self, from: httpRequest("GET", base + "api/whoami", token: "tok-bob").1).role
                == "client")
        #expect(try JSONDecoder().decode(Who.self, from: httpRequest("GET", base + "api/whoami").1).role == "viewer")
        func jobs(_ query: String) throws -> [JobID] {
            try JSONDecoder().decode([JobStatus].self, from: httpRequest("GET", base + "api/jobs" + query).1).map(\.id)
        }
        #expect(try jobs("") == [id] && jobs("?state=running") == [id] && jobs("?state=done,failed").isEmpty)
        #expect(try jobs("?owner=alice") == [id] && jobs("?owner=bob").isEmpty)
        #expect(
            Self.refusal(try httpRequest("GET", base + "api/jobs?state=sleeping")).1?.message.contains(
                "unknown state 'sleeping'") == true)

        let detail = try JSONDecoder().decode(
            JobDetail.self, from: httpRequest("GET", base + "api/jobs/\(id)?stage=0").1)
        #expect(
            detail.status.id == id && detail.stages.count == 3 && detail.tiles.count == 1
                && detail.tiles[0].state == "rendering")
        let tile = try JSONDecoder().decode(
            TileDetail.self, from: httpRequest("GET", base + "api/jobs/\(id)/tiles/0/0").1)
        #expect(tile.tile.index == 0 && tile.tile.worker == "w")
        #expect(try httpRequest("GET", base + "api/jobs/\(id)/tiles/0/7").0 == 404)
        #expect(
            Self.refusal(try httpRequest("GET", base + "api/jobs/\(id)/canvas")).1?.code == "not-found",
            "no canvas in memory")

        // The job file reads back as the same job.
        let (code, toml) = try httpRequest("GET", base + "api/jobs/\(id)/job.toml")
        #expect(code == 200)
        let description = try JobDescription.decode(toml: String(decoding: toml, as: UTF8.self))
        let spec = console.with { $0.core.jobs[id]!.spec }
        #expect(description.content == "\(id)-content" && description.style?.map(\.image) == ["\(id)-style-1"])
        #expect(try description.settings(contentWidth: 300, contentHeight: 200).poster == spec.poster)
        _ = monitor
    }

    @Test func theEventStreamSendsTheSnapshotThenOnlyWhatChanged() throws {
        let (server, console, monitor, base, _) = try Self.serve()
        defer { server.stop() }
        let stream = try EventStream(base + "api/events")
        defer { stream.close() }
        let first = try JSONDecoder().decode(FarmSnapshot.self, from: Data(try stream.nextEvent().data.utf8))
        #expect(first.workers.count == 1 && first.jobs.count == 1 && first.revision != nil)
        console.with { h in
            h.callers["v"] = ControlTests.worker
            h.ready("v")
        }
        console.publish(to: monitor)
        let (name, data) = try stream.nextEvent()
        let changes = try JSONDecoder().decode(FarmChanges.self, from: Data(data.utf8))
        #expect(name == "changes" && changes.workers.map(\.id) == ["v"] && changes.jobs.isEmpty, "only the new worker")
    }

    /// Docs/openapi.yaml is the spec: each of its paths is served (a route's own answer, not the router's bare 404), and
    /// each route served is in it.
    @Test func theSpecAndTheServedRoutesAgree() throws {
        let (server, _, _, base, id) = try Self.serve()
        defer { server.stop() }
        let spec = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
        let paths = spec.split(separator: "\n").filter { $0.hasPrefix("  /") }.map {
            String($0.dropFirst(2).prefix { $0 != ":" })
        }
        #expect(paths.count >= 15)
        for path in paths {
            let concrete = path.replacingOccurrences(of: "{id}", with: id.rawValue).replacingOccurrences(
                of: "{verb}", with: path.contains("workers") ? "drain" : "pause"
            )
            .replacingOccurrences(of: "{stage}", with: "0").replacingOccurrences(of: "{tile}", with: "0")
            .replacingOccurrences(of: "{n}", with: "0")
            .replacingOccurrences(of: "{z}", with: "0").replacingOccurrences(of: "{x}", with: "0").replacingOccurrences(
                of: "{y}", with: "0")
            let method = path.contains("{verb}") || path == "/api/session" ? "POST" : "GET"
            if path == "/api/events" { continue }  // a stream: checked by its own test
            let (code, body) = try httpRequest(method, base + String(concrete.dropFirst()), token: "tok-root")
            let refusal = try? JSONDecoder().decode(Refusal.self, from: body)
            #expect(
                code != 404 || (refusal != nil && refusal?.message != "Not Found"),
                "\(method) \(path): \(code) \(String(decoding: body, as: UTF8.self))")
        }
        let unknown = Self.refusal(try httpRequest("GET", base + "api/nothing-here", token: "tok-root"))
        #expect(unknown.0 == 404 && unknown.1?.code == "not-found", "an unknown route is JSON too")

        // And the reverse: every route served is in the spec, but the page and its files (/app/) and Leaflet's (/vendor/).
        let specSegments = paths.map {
            $0.replacingOccurrences(of: ".png", with: "").split(separator: "/").map(String.init)
        }
        let served = server.routes.filter { !$0.hasSuffix(" /") && !$0.contains(" /vendor/") && !$0.contains(" /app/") }
        #expect(served.count >= 20, "\(served)")
        for route in served {
            let segments = route.split(separator: " ")[1].split(separator: "/").map(String.init)
            let documented = specSegments.contains { spec in
                spec.count == segments.count
                    && zip(spec, segments).allSatisfy { s, r in
                        s == r || (s.hasPrefix("{") && (r.hasPrefix(":") || s == "{verb}"))
                    }
            }
            #expect(documented, "\(route) is served but not in Docs/openapi.yaml")
        }
    }

    @Test func aKeyTokenNamesItsKeyOnItsCoordinatorOnly() throws {
        let server = try CurveKeyPair.generate(), other = try CurveKeyPair.generate()
        let alice = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let allowlist = try Allowlist([(alice.publicKey, "alice", .client)])
        let token = try DashboardToken.make(keys: alice, server: server.publicKey)
        #expect(token.count == 129 && token.allSatisfy { $0.isHexDigit || $0 == "." })
        #expect(DashboardToken.caller(token, serverSecret: server.secretKey, allowlist: allowlist)?.name == "alice")
        #expect(
            DashboardToken.caller(token, serverSecret: other.secretKey, allowlist: allowlist) == nil,
            "another coordinator")
        let foreign = try DashboardToken.make(keys: stranger, server: server.publicKey)
        #expect(
            DashboardToken.caller(foreign, serverSecret: server.secretKey, allowlist: allowlist) == nil,
            "not on the allowlist")
        var tampered = Array(token)
        tampered[tampered.count - 1] = tampered.last == "0" ? "1" : "0"
        #expect(DashboardToken.caller(String(tampered), serverSecret: server.secretKey, allowlist: allowlist) == nil)
        for junk in ["", ".", "zz.zz", String(repeating: "a", count: 129), token + "00"] {
            #expect(DashboardToken.caller(junk, serverSecret: server.secretKey, allowlist: allowlist) == nil)
        }
    }
}
