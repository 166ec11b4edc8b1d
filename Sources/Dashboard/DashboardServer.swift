import FarmMonitor
import FarmProtocol
import Foundation
import Hummingbird
import JobModel
import Synchronization

/// The coordinator's control room (Docs/dashboard.md; the API is specified in Docs/openapi.yaml), served by Hummingbird
/// on threads of its own. Reads come from the monitor's published snapshot; a job's page, a tile's curve, the canvas and
/// the controls are asked of the coordinator (`FarmConsole`), which answers on its loop. Every error is JSON
/// `{"code", "message"}`; `/healthz` is the one route that needs no token and tells nothing. At most `maxEventStreams`
/// event streams are open at once (each holds a connection); one more gets 503.
public final class DashboardServer: Sendable {
    public static let maxEventStreamsDefault = 32
    /// Input files and canvas tiles served at once (each reads a file or renders a tile off the coordinator's loop);
    /// one more gets 503 and tries again.
    public static let maxFileRequests = 8
    /// Bytes read from disk per write while an input file streams.
    static let streamChunk = 64 << 10
    /// Where Debian's libjs-leaflet installs Leaflet, served at /vendor/leaflet/ for the deep-zoom viewer.
    public static let leafletDirectory = "/usr/share/javascript/leaflet"
    /// How often an event stream looks for changes. A second with none sends a two-byte comment instead: a closed
    /// stream is only noticed at a write, and its place (`maxEventStreams`) must come back soon.
    static let streamInterval = Duration.seconds(1)

    public let monitor: FarmMonitor
    public let console: FarmConsole?
    public let host: String
    public let access: DashboardAccess
    public let maxEventStreams: Int
    let leaflet: String
    let streamPlaces: Places
    let filePlaces = Places(DashboardServer.maxFileRequests)
    /// The port asked for, then the port bound; and the serving task while it runs.
    let state: Mutex<(port: Int, task: Task<Void, Error>?)>

    public init(
        monitor: FarmMonitor, console: FarmConsole? = nil, host: String = "127.0.0.1", port: Int = 8787,
        access: DashboardAccess = DashboardAccess(), maxEventStreams: Int = DashboardServer.maxEventStreamsDefault,
        leafletDirectory: String = DashboardServer.leafletDirectory
    ) {
        (self.monitor, self.console, self.host, self.access) = (monitor, console, host, access)
        self.maxEventStreams = maxEventStreams
        streamPlaces = Places(maxEventStreams)
        leaflet = leafletDirectory
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
        let app = Application(
            router: makeRouter(), configuration: .init(address: .hostname(host, port: port)),
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
        guard bound.wait(timeout: .now() + 30) == .success else {
            throw StartError(description: "dashboard did not start in 30 s")
        }
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

    // MARK: Routes

    /// Every route served, as "METHOD /path/:parameter" (the reverse check of Docs/openapi.yaml).
    public var routes: [String] { makeRouter().routes.map { "\($0.method) \($0.path)" } }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIMiddleware(access: access, monitor: monitor))
        addPageRoutes(router)
        addSessionRoutes(router)
        addFarmRoutes(router)
        addJobRoutes(router)
        addCanvasRoutes(router)
        addControlRoutes(router)
        return router
    }

    struct PriorityBody: Decodable { var priority: Int }

    static func whoami(_ identity: DashboardAccess.Identity?) throws -> Response {
        switch identity {
        case let .caller(c)?: try json(["name": c.name, "role": c.role.rawValue])
        default: try json(["name": "", "role": "viewer"])
        }
    }

    /// What this request may read (`ReadScope`).
    func scope(_ request: Request) -> ReadScope { ReadScope(APIMiddleware.identity(request, access)) }

    /// The route's job id, when the request may read that job; another client's job is answered as unknown, as on the wire.
    func visibleJob(_ request: Request, _ context: BasicRequestContext) throws -> JobID {
        let id = JobID(try context.parameters.require("id"))
        guard scope(request).sees(job: id, in: monitor.snapshot) else { throw Self.noJob(id) }
        return id
    }

    /// One of `maxFileRequests` places, or a 503.
    func takeFilePlace() throws -> Held {
        guard let place = filePlaces.take() else {
            throw APIError(503, "unavailable", "\(Self.maxFileRequests) files are being served; try again")
        }
        return place
    }

    /// A file, read and written `streamChunk` bytes at a time, holding one of `maxFileRequests` places while it streams.
    /// The place and the file are given back when the body is done or dropped unwritten (a client gone before the
    /// headers were written: the body never runs, and only its release says so).
    func streamed(_ file: FileHandle, headers: HTTPFields) throws -> Response {
        let place: Held
        do { place = try takeFilePlace() } catch {
            try? file.close()
            throw error
        }
        let held = Held {
            try? file.close()
            place.release()
        }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { held.release() }
                while let chunk = try file.read(upToCount: Self.streamChunk), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
    }

    /// A control, as the request's key token allows; a viewer is refused before the coordinator is asked.
    func control(_ body: ControlBody, request: Request) async throws -> Response {
        guard case let .caller(caller)? = APIMiddleware.identity(request, access) else {
            throw APIError(
                403, "forbidden",
                "viewing only: sign in with a key token (`stylefarm dashboard-token`) to \(body.verb.rawValue)")
        }
        guard let console else { throw APIError(503, "unavailable", "this dashboard has no coordinator to steer") }
        switch await console.control(body, as: caller) {
        case let .success(done): return try Self.json(done)
        case let .failure(refusal): throw APIError(refusal)
        }
    }

    /// Server-Sent Events: the whole snapshot first (and again when a client fell too far behind), then what changed,
    /// once a second, as `event: changes`; a comment in a second when nothing did.
    func eventStream(_ scope: ReadScope) throws -> Response {
        guard let held = streamPlaces.take() else {  // given back also when the body never runs (`Held`)
            throw APIError(503, "unavailable", "\(maxEventStreams) event streams are open; poll /api/status instead")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { [self] writer in
                defer { held.release() }
                let encoder = JSONEncoder()
                var snapshot = scope.filter(monitor.snapshot)
                var revision = snapshot.revision ?? 0
                try await writer.write(
                    ByteBuffer(
                        string: "data: " + String(decoding: try encoder.encode(snapshot), as: UTF8.self) + "\n\n"))
                while !Task.isCancelled {
                    try await Task.sleep(for: Self.streamInterval)
                    if let changes = monitor.changes(since: revision).map(scope.filter) {
                        guard !changes.isEmpty else {
                            try await writer.write(ByteBuffer(string: ":\n\n"))
                            continue
                        }
                        revision = changes.revision
                        try await writer.write(
                            ByteBuffer(
                                string: "event: changes\ndata: "
                                    + String(decoding: try encoder.encode(changes), as: UTF8.self) + "\n\n"))
                    } else {
                        snapshot = scope.filter(monitor.snapshot)
                        revision = snapshot.revision ?? 0
                        try await writer.write(
                            ByteBuffer(
                                string: "data: " + String(decoding: try encoder.encode(snapshot), as: UTF8.self)
                                    + "\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }

    static func noJob(_ id: JobID) -> APIError { APIError(404, "not-found", "no job \(id)") }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A file of the front end; `no-cache`: a browser asks again (an upgraded coordinator serves new files).
    static func asset(_ asset: DashboardAssets.Asset) -> Response {
        Response(
            status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func png(_ bytes: [UInt8], cache: String = "no-store") -> Response {
        Response(
            status: .ok, headers: [.contentType: "image/png", .cacheControl: cache],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A file of Debian's Leaflet package: names of letters, digits, `-` and `.`, ending .js, .css or .png (nothing
    /// else is ever opened); 404 when the package is not installed (the page then shows the plain preview).
    static func vendor(_ directory: String, _ name: String) throws -> Response {
        let types = ["js": "text/javascript", "css": "text/css", "png": "image/png"]
        let ext = String(name.split(separator: ".").last ?? "")
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
            !name.hasPrefix("."),
            let type = types[ext], let data = FileManager.default.contents(atPath: directory + "/" + name)
        else {
            throw APIError(404, "not-found", "no \(name) (the deep-zoom viewer needs Debian's libjs-leaflet)")
        }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=86400"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
