import FarmProtocol
import Foundation
import Synchronization

/// Who a dashboard request comes from (Docs/dashboard.md, "Who may press which button"):
/// - a key token (`stylefarm dashboard-token`) names an allowlisted key, so a role: a client steers its own jobs, an
///   admin everything, as on the wire;
/// - the shared view token (`--dashboard-token-file`) sees everything and steers nothing;
/// - with no view token set, a request without a token views (and, on a plaintext coordinator, is `Caller.insecure`,
///   an admin, as every peer of its socket is);
/// - anything else is refused 401 and counted.
///
/// Every request must also name this dashboard: its `Host` (and `Origin`, when a browser sends one) is an IP address,
/// `localhost`, or a name the operator gave (`--dashboard-host`), so a page on another site that rebinds its own name to
/// this address (DNS rebinding) is refused. Tokens never travel in URLs: a page exchanges one for a session cookie
/// (`POST /api/session`), which the browser sends with its event stream and images.
public struct DashboardAccess: Sendable {
    public var viewToken: String?
    /// Who holds a key token; nil when the coordinator has no CURVE keys.
    public var keyToken: (@Sendable (String) -> Caller?)?
    /// A plaintext coordinator.
    public var insecure: Bool
    /// Host names (lowercase, without a port) this dashboard answers to besides IP addresses and `localhost`.
    public var hosts: Set<String>
    public let sessions = DashboardSessions()

    public init(
        viewToken: String? = nil, keyToken: (@Sendable (String) -> Caller?)? = nil, insecure: Bool = false,
        hosts: Set<String> = []
    ) {
        (self.viewToken, self.keyToken, self.insecure) = (viewToken, keyToken, insecure)
        self.hosts = Set(hosts.map { $0.lowercased() })
    }

    /// Whether a request's `Host` and `Origin` headers name this dashboard (DNS rebinding is refused). A request
    /// without an `Origin` (a command-line client, a same-origin GET) is checked by its `Host` alone.
    public func allows(host: String?, origin: String?) -> Bool {
        guard let host, allows(authority: host) else { return false }
        guard let origin else { return true }
        guard let scheme = origin.range(of: "://") else { return false }
        return allows(authority: String(origin[scheme.upperBound...]))
    }

    /// `name[:port]` or `[v6]:port`: an IP literal, localhost, or a configured name.
    func allows(authority: String) -> Bool {
        var name = authority.lowercased()
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            name = String(name[name.index(after: name.startIndex) ..< close])
            return name.contains(":") && name.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        if let colon = name.lastIndex(of: ":") { name = String(name[..<colon]) }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let ipv4 = parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) }
        return ipv4 || name == "localhost" || hosts.contains(name)
    }

    /// What a request may do: view (caller nil) or act as `caller`; nil: nothing (401).
    public enum Identity: Sendable, Equatable {
        case viewer
        case caller(Caller)
    }

    public func identify(token: String?) -> Identity? {
        guard let token, !token.isEmpty else {
            guard viewToken == nil else { return nil }
            return insecure ? .caller(.insecure) : .viewer
        }
        if let caller = keyToken?(token) { return .caller(caller) }
        if let viewToken, Self.matches(token, viewToken) { return insecure ? .caller(.insecure) : .viewer }
        return nil
    }

    /// Compares in time that depends on the lengths only, not on where the first difference is, so the token
    /// cannot be guessed byte by byte from response times.
    static func matches(_ given: String, _ token: String) -> Bool {
        let a = Array(given.utf8), b = Array(token.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)  // safe-int: a literal 0 or 1
        for i in 0 ..< max(a.count, b.count) { difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return difference == 0
    }
}

/// Sessions a page started with a token (`POST /api/session`): a random id in an HttpOnly, SameSite=Strict cookie
/// stands for the token's identity for `lifetime` seconds, so the token itself never goes in a URL.
public final class DashboardSessions: Sendable {
    /// Twelve hours: a working day at the control room; then the page asks for the token again.
    public static let lifetime = 12.0 * 3600
    /// Sessions held at once; past it the oldest goes (each is a few hundred bytes).
    public static let capacity = 10_000
    public static let cookie = "stylefarm_session"

    let table = Mutex<[String: (identity: DashboardAccess.Identity, expires: Double)]>([:])

    /// A new session for `identity`; its id.
    public func start(_ identity: DashboardAccess.Identity, now: Double = Date().timeIntervalSince1970) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let id = bytes.map { String(format: "%02x", $0) }.joined()
        table.withLock { t in
            t = t.filter { $0.value.expires > now }
            if t.count >= Self.capacity, let oldest = t.min(by: { $0.value.expires < $1.value.expires })?.key {
                t[oldest] = nil
            }
            t[id] = (identity, now + Self.lifetime)
        }
        return id
    }

    public func identity(_ id: String, now: Double = Date().timeIntervalSince1970) -> DashboardAccess.Identity? {
        table.withLock { t in
            guard let s = t[id] else { return nil }
            guard s.expires > now else {
                t[id] = nil
                return nil
            }
            return s.identity
        }
    }

    public func end(_ id: String) { table.withLock { $0[id] = nil } }
}

/// A refusal as the API answers it: an HTTP status and a JSON body `{"code": …, "message": …}`.
public struct APIError: Error, Codable, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(_ status: Int, _ code: String, _ message: String) {
        (self.status, self.code, self.message) = (status, code, message)
    }
    public init(_ refusal: ControlRefusal) {
        self.init(refusal.code.httpStatus, refusal.code.rawValue, refusal.message)
    }

    enum CodingKeys: String, CodingKey { case code, message }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        (status, code, message) = (
            0, try c.decode(String.self, forKey: .code), try c.decode(String.self, forKey: .message)
        )
    }
}
