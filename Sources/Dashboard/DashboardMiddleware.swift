import FarmMonitor
import FarmProtocol
import Foundation
import Hummingbird
import Synchronization

/// Checks every request's token (`DashboardAccess`) and answers every error as JSON `{"code", "message"}`.
struct APIMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let access: DashboardAccess
    let monitor: FarmMonitor

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return String(header.dropFirst(7))
    }

    /// The session cookie's id, if the request carries one.
    static func session(_ request: Request) -> String? {
        for cookie in (request.headers[.cookie] ?? "").split(separator: ";") {
            let pair = cookie.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(DashboardSessions.cookie + "=") {
                return String(pair.dropFirst(DashboardSessions.cookie.count + 1))
            }
        }
        return nil
    }

    /// Who the request comes from: its bearer token, else its session cookie, else nobody in particular (a viewer when
    /// no view token is set); nil when its token is not valid. A session cookie this dashboard does not know (expired,
    /// or another dashboard's on the same host) counts as none.
    static func identity(_ request: Request, _ access: DashboardAccess) -> DashboardAccess.Identity? {
        if let token = bearer(request) { return access.identify(token: token) }
        if let id = session(request), let known = access.sessions.identity(id) { return known }
        return access.identify(token: nil)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            guard access.allows(host: request.head.authority, origin: request.headers[.origin]) else {
                monitor.countAuthFailure()
                throw APIError(
                    403, "forbidden",
                    "this dashboard does not answer to \(request.head.authority ?? "a request without a Host"): "
                        + "name it with --dashboard-host (a page elsewhere that points its own name at this address is refused)"
                )
            }
            // A request that changes something from a browser must come from this very page: an Origin that is only
            // some address or name it answers to (another port, another IP) could be another site's page.
            if request.method != .get, request.method != .head, let origin = request.headers[.origin],
                origin.split(separator: "/").dropFirst().first.map({ $0.lowercased() })
                    != request.head.authority?.lowercased()
            {
                monitor.countAuthFailure()
                throw APIError(403, "forbidden", "a change must come from this dashboard's own page (Origin \(origin))")
            }
            if request.uri.queryParameters.get("token") != nil {
                monitor.countAuthFailure()
                throw APIError(
                    400, "invalid",
                    "tokens do not go in URLs, which proxies and logs keep: send Authorization: Bearer TOKEN, "
                        + "or open the page as http://HOST:PORT/#token=TOKEN and it starts a session")
            }
            if request.uri.path != "/healthz", Self.identity(request, access) == nil {
                monitor.countAuthFailure()
                throw APIError(
                    401, "unauthorized",
                    "a valid token is required (Authorization: Bearer …, or a session from POST /api/session)")
            }
            return try await next(request, context)
        } catch let e as APIError {
            return Self.error(e)
        } catch let e as HTTPError {
            let code =
                switch e.status.code {
                case 404: "not-found"
                case 401: "unauthorized"
                case 400 ..< 500: "invalid"
                default: "unavailable"
                }
            // safe-int: widening an HTTP status
            return Self.error(APIError(Int(e.status.code), code, e.body ?? e.status.reasonPhrase))
        }
    }

    static func error(_ e: APIError) -> Response {
        let body = (try? JSONEncoder().encode(["code": e.code, "message": e.message])) ?? Data()
        return Response(
            status: .init(code: e.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Something given back once: when `release` is called or, failing that, when the last reference goes.
final class Held: Sendable {
    let action: Mutex<(@Sendable () -> Void)?>
    init(_ action: @escaping @Sendable () -> Void) { self.action = Mutex(action) }
    func release() {
        action.withLock { a in
            a?(); a = nil
        }
    }
    deinit { release() }
}

/// At most `limit` of something at once (event streams, files being served): `take` gives a place, held until released.
final class Places: Sendable {
    let limit: Int
    let taken = Atomic(0)
    init(_ limit: Int) { self.limit = limit }

    /// A place, or nil when `limit` are taken.
    func take() -> Held? {
        guard taken.add(1, ordering: .relaxed).newValue <= limit else {
            taken.subtract(1, ordering: .relaxed)
            return nil
        }
        return Held { [self] in taken.subtract(1, ordering: .relaxed) }
    }
}

/// The bound port, or why binding failed, handed from the server's task to `start`.
final class PortBox: Sendable {
    let state = Mutex<(port: Int, error: String?)>((0, nil))
    func set(_ p: Int) { state.withLock { $0.port = p } }
    func fail(_ e: String) { state.withLock { $0.error = e } }
}

/// What a request may read, as on the wire: everything (a viewer, an admin, a plaintext caller), or a client's own
/// jobs (by the name the allowlist gives its key; names are unique) and the workers without their leases and tiles.
enum ReadScope: Sendable {
    case everything
    case ownJobs(owner: String)

    init(_ identity: DashboardAccess.Identity?) {
        if case let .caller(c)? = identity, !c.role.seesEveryJob {
            self = .ownJobs(owner: c.name)
        } else {
            self = .everything
        }
    }

    func sees(_ status: JobStatus) -> Bool {
        switch self {
        case .everything: true
        case let .ownJobs(owner): status.owner == owner
        }
    }

    func sees(job id: JobID, in snapshot: FarmSnapshot) -> Bool {
        guard case .ownJobs = self else { return true }
        return snapshot.jobs.contains { $0.status.id == id && sees($0.status) }
    }

    func filter(workers: [WorkerStatus]) -> [WorkerStatus] {
        guard case .ownJobs = self else { return workers }
        return workers.map { w in
            var w = w
            (w.leases, w.tilesNow, w.blocklisted) = ([], nil, nil)
            return w
        }
    }

    func filter(_ snapshot: FarmSnapshot) -> FarmSnapshot {
        var s = snapshot
        s.jobs = s.jobs.filter { sees($0.status) }
        s.workers = filter(workers: s.workers)
        return s
    }

    func filter(_ changes: FarmChanges) -> FarmChanges {
        guard case .ownJobs = self else { return changes }
        var c = changes
        c.jobs = c.jobs.filter { sees($0.status) }
        c.workers = filter(workers: c.workers)
        return c
    }
}
