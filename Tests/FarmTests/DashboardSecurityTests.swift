import Dashboard
import FarmMonitor
import FarmProtocol
import FarmTestSupport
import Foundation
import FoundationNetworking
import Testing

/// The control room's reads as safe as the wire (Docs/dashboard.md, "Who may read what"): DNS rebinding refused by
/// Host and Origin, tokens never in URLs (a session cookie instead), and a client reading only its own jobs.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DashboardSecurityTests {
    /// One raw HTTP/1.1 request (URLSession will not send a Host of our choosing): the status, the headers and the body.
    static func raw(_ port: Int, _ method: String, _ path: String, headers: [String: String]) throws -> (
        Int, String, String
    ) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(rc == 0)
        let head = headers.map { "\($0.key): \($0.value)\r\n" }.sorted().joined()
        let request = "\(method) \(path) HTTP/1.1\r\n\(head)Content-Length: 0\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var received = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0 ..< n]
        }
        let text = String(decoding: received, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (status, parts.first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    static func serve(hosts: Set<String> = []) throws -> (DashboardServer, HarnessConsole, JobID) {
        let (h, id) = ControlTests.farm()
        let console = HarnessConsole(h), monitor = FarmMonitor()
        console.publish(to: monitor)
        let access = DashboardAccess(keyToken: { DashboardAPITests.tokens[$0] }, hosts: hosts)
        let server = DashboardServer(monitor: monitor, console: console, host: "127.0.0.1", port: 0, access: access)
        try server.start()
        return (server, console, id)
    }

    /// A page on another site that points its own name at this address (DNS rebinding) sends that name as Host, and
    /// its origin: both refused. Addresses, localhost and the names the operator gave are answered.
    @Test func dnsRebindingIsRefusedByHostAndOrigin() throws {
        let (server, _, _) = try Self.serve(hosts: ["Farm.Example"])
        defer { server.stop() }
        let port = server.port
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "farm.example:\(port)", "[::1]:\(port)", "10.1.2.3"] {
            #expect(try Self.raw(port, "GET", "/api/status", headers: ["Host": host]).0 == 200, "\(host)")
        }
        for host in ["evil.example:\(port)", "127.0.0.1.evil.example", "farm.example.evil"] {
            let (status, _, body) = try Self.raw(port, "GET", "/api/status", headers: ["Host": host])
            #expect(status == 403 && body.contains("--dashboard-host"), "\(host): \(status) \(body)")
        }
        #expect(
            try Self.raw(
                port, "GET", "/api/status", headers: ["Host": "127.0.0.1:\(port)", "Origin": "http://evil.example"]
            ).0 == 403)
        #expect(
            try Self.raw(
                port, "GET", "/api/status", headers: ["Host": "127.0.0.1:\(port)", "Origin": "http://localhost:\(port)"]
            ).0 == 200)
        #expect(
            try Self.raw(
                port, "POST", "/api/jobs/x/pause",
                headers: ["Host": "127.0.0.1:\(port)", "Origin": "null", "Authorization": "Bearer tok-root"]
            ).0 == 403,
            "a sandboxed page's opaque origin is not this dashboard")
    }

    /// A token is exchanged for an HttpOnly, SameSite=Strict session cookie that then stands for it; in a URL it is refused.
    @Test func aTokenBecomesASessionAndNeverRidesInAURL() throws {
        let (server, _, _) = try Self.serve()
        defer { server.stop() }
        let port = server.port, host = ["Host": "127.0.0.1:\(port)"]
        let (status, head, body) = try Self.raw(
            port, "POST", "/api/session", headers: host.merging(["Authorization": "Bearer tok-alice"]) { $1 })
        #expect(status == 200 && body.contains("\"alice\""))
        let cookie = try #require(head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
        #expect(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("stylefarm_session="))
        let session = try #require(cookie.split(separator: ";").first?.split(separator: " ").last).description
        let whoami = try Self.raw(port, "GET", "/api/whoami", headers: host.merging(["Cookie": session]) { $1 })
        #expect(whoami.0 == 200 && whoami.2.contains("\"alice\"") && whoami.2.contains("\"client\""), "\(whoami)")
        let forged = try Self.raw(
            port, "GET", "/api/whoami", headers: host.merging(["Cookie": "stylefarm_session=forged"]) { $1 })
        #expect(
            forged.0 == 200 && forged.2.contains("\"viewer\""),
            "an unknown session is no session: a viewer here, who has no view token")
        #expect(
            try Self.raw(port, "POST", "/api/session", headers: host.merging(["Authorization": "Bearer nope"]) { $1 }).0
                == 401)
        let inURL = try Self.raw(port, "GET", "/api/status?token=tok-alice", headers: host)
        #expect(inURL.0 == 400 && inURL.2.contains("tokens do not go in URLs"))
        _ = try Self.raw(port, "DELETE", "/api/session", headers: host.merging(["Cookie": session]) { $1 })
        #expect(
            try Self.raw(port, "GET", "/api/whoami", headers: host.merging(["Cookie": session]) { $1 }).2.contains(
                "\"viewer\""), "signed out")
    }

    /// As on the wire: a client lists and reads only its own jobs (another's answers 404, as if it did not exist), and
    /// sees the workers without their leases; an admin and a viewer read everything.
    @Test func aClientReadsOnlyItsOwnJobs() throws {
        let (server, _, id) = try Self.serve()
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)/"
        func jobs(_ token: String?) throws -> [JobID] {
            try JSONDecoder().decode([JobStatus].self, from: httpRequest("GET", base + "api/jobs", token: token).1).map(
                \.id)
        }
        #expect(try jobs("tok-alice") == [id] && jobs("tok-root") == [id] && jobs(nil) == [id])
        #expect(try jobs("tok-bob").isEmpty && jobs("tok-w").isEmpty)
        for path in [
            "", "?stage=0", "/tiles/0/0", "/job.toml", "/inputs/0", "/preview.png", "/canvas", "/canvas/0/0/0.png"
        ] {
            let (status, body) = try httpRequest("GET", base + "api/jobs/\(id)" + path, token: "tok-bob")
            #expect(
                status == 404 && String(decoding: body, as: UTF8.self).contains("no job \(id)"),
                "bob reads \(path): \(status)")
        }
        #expect(try httpRequest("GET", base + "api/jobs/\(id)", token: "tok-alice").0 == 200)
        let snapshot = try JSONDecoder().decode(
            FarmSnapshot.self, from: httpRequest("GET", base + "api/status", token: "tok-bob").1)
        #expect(snapshot.jobs.isEmpty && snapshot.workers.allSatisfy { $0.leases.isEmpty && $0.tilesNow == nil })
        let stream = try EventStream(base + "api/events", token: "tok-bob")
        defer { stream.close() }
        let first = try JSONDecoder().decode(FarmSnapshot.self, from: Data(try stream.nextEvent().data.utf8))
        #expect(first.jobs.isEmpty && first.workers.count == 1, "bob's event stream carries none of alice's jobs")
    }
}
