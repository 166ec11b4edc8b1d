import FarmMonitor
import Foundation
import Hummingbird
import Synchronization

/// The coordinator's web dashboard and API (Docs/dashboard.md), served by Hummingbird on threads of its own:
///
/// | route | answer |
/// |---|---|
/// | `GET /` | the dashboard page (HTML + JavaScript, no external assets) |
/// | `GET /api/status` | `FarmSnapshot` as JSON |
/// | `GET /api/events` | Server-Sent Events: a `FarmSnapshot` every second |
/// | `GET /api/jobs/{id}` | one `JobView` |
/// | `GET /api/jobs/{id}/preview.png` | the job's low-resolution canvas, as its tiles land |
/// | `GET /metrics` | Prometheus text format |
/// | `GET /healthz` | `ok`: for probes; the only route that needs no token and tells nothing |
///
/// With a token, every other request needs `Authorization: Bearer TOKEN` or `?token=TOKEN`; others get 401 and
/// count as authentication failures. Unknown routes get 404, unknown jobs 404. At most `maxEventStreams` event
/// streams are open at once; one more gets 503 (each holds a connection and encodes a snapshot a second).
public final class DashboardServer: Sendable {
    public static let maxEventStreamsDefault = 32
    public let monitor: FarmMonitor
    public let host: String
    public let token: String?
    public let maxEventStreams: Int
    let openStreams = Atomic(0)
    /// The port asked for, then the port bound; and the serving task while it runs.
    let state: Mutex<(port: Int, task: Task<Void, Error>?)>

    public init(monitor: FarmMonitor, host: String = "127.0.0.1", port: Int = 8787, token: String? = nil,
                maxEventStreams: Int = DashboardServer.maxEventStreamsDefault) {
        self.monitor = monitor
        self.host = host
        self.token = token
        self.maxEventStreams = maxEventStreams
        state = Mutex((port, nil))
    }

    /// The port: the one bound, once `start` returned.
    public var port: Int { state.withLock { $0.port } }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts serving; returns once the socket is bound (port 0 picks a free port, see `port`).
    public func start() throws {
        let bound = DispatchSemaphore(value: 0)
        let box = PortBox()
        let app = Application(router: makeRouter(), configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in
                                  box.set(channel.localAddress?.port ?? 0)
                                  bound.signal()
                              })
        let task = Task.detached {
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                box.fail("\(error)")
                bound.signal()
                throw error
            }
        }
        state.withLock { $0.task = task }
        guard bound.wait(timeout: .now() + 30) == .success else { throw StartError(description: "dashboard did not start in 30 s") }
        let (port, error) = box.state.withLock { ($0.port, $0.error) }
        if let error { throw StartError(description: "dashboard on \(host):\(self.port): \(error)") }
        state.withLock { $0.port = port }
    }

    public func stop() {
        state.withLock { s in
            s.task?.cancel()
            s.task = nil
        }
    }

    var url: String { "http://\(host):\(port)/" }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.add(middleware: TokenMiddleware(token: token, monitor: monitor)) }
        let monitor = self.monitor, maxEventStreams = self.maxEventStreams
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.get("/api/status") { _, _ in try Self.json(monitor.snapshot) }
        router.get("/api/jobs/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let job = monitor.snapshot.jobs.first(where: { $0.status.id == id }) else {
                throw HTTPError(.notFound, message: "no job \(id)")
            }
            return try Self.json(job)
        }
        router.get("/api/jobs/:id/preview.png") { _, context in
            let id = try context.parameters.require("id")
            guard let png = monitor.preview(job: id) else { throw HTTPError(.notFound, message: "no preview for job \(id)") }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/api/events") { [self] _, _ in
            guard openStreams.add(1, ordering: .relaxed).newValue <= maxEventStreams else {
                openStreams.subtract(1, ordering: .relaxed)
                throw HTTPError(.serviceUnavailable, message: "\(maxEventStreams) event streams are open; poll /api/status instead")
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                     body: ResponseBody { [self] writer in
                         defer { openStreams.subtract(1, ordering: .relaxed) }
                         let encoder = JSONEncoder()
                         while !Task.isCancelled {
                             let data = try encoder.encode(monitor.snapshot)
                             try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                             try await Task.sleep(for: .seconds(1))
                         }
                         try await writer.finish(nil)
                     })
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: monitor.prometheusText())))
        }
        return router
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// Refuses requests without the dashboard's token.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String
    let monitor: FarmMonitor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        let bearer = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : "" }
        let query = request.uri.queryParameters.get("token")
        guard Self.matches(bearer, token) || Self.matches(query, token) else {
            monitor.countAuthFailure()
            throw HTTPError(.unauthorized, message: "a valid token is required (Authorization: Bearer … or ?token=…)")
        }
        return try await next(request, context)
    }

    /// Compares in time that depends on the lengths only, not on where the first difference is, so the token
    /// cannot be guessed byte by byte from response times.
    static func matches(_ given: String?, _ token: String) -> Bool {
        guard let given else { return false }
        let a = Array(given.utf8), b = Array(token.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0 ..< max(a.count, b.count) { difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return difference == 0
    }
}

/// The bound port, or why binding failed, handed from the server's task to `start`.
final class PortBox: Sendable {
    let state = Mutex<(port: Int, error: String?)>((0, nil))
    func set(_ p: Int) { state.withLock { $0.port = p } }
    func fail(_ e: String) { state.withLock { $0.error = e } }
}
