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
public struct DashboardAccess: Sendable {
    public var viewToken: String?
    /// Who holds a key token; nil when the coordinator has no CURVE keys.
    public var keyToken: (@Sendable (String) -> Caller?)?
    /// A plaintext coordinator.
    public var insecure: Bool

    public init(viewToken: String? = nil, keyToken: (@Sendable (String) -> Caller?)? = nil, insecure: Bool = false) {
        (self.viewToken, self.keyToken, self.insecure) = (viewToken, keyToken, insecure)
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

/// A refusal as the API answers it: an HTTP status and a JSON body `{"code": …, "message": …}`.
public struct APIError: Error, Codable, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(_ status: Int, _ code: String, _ message: String) { (self.status, self.code, self.message) = (status, code, message) }
    public init(_ refusal: ControlRefusal) { self.init(refusal.code.httpStatus, refusal.code.rawValue, refusal.message) }

    enum CodingKeys: String, CodingKey { case code, message }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        (status, code, message) = (0, try c.decode(String.self, forKey: .code), try c.decode(String.self, forKey: .message))
    }
}
