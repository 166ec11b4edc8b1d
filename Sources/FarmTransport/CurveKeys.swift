import CZmq
import Foundation

/// A CurveZMQ key pair, Z85-encoded (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    public enum KeyError: Error, CustomStringConvertible {
        case unavailable
        case badFile(String, String)
        public var description: String {
            switch self {
            case .unavailable: "this libzmq has no CURVE support (built without libsodium)"
            case let .badFile(path, why): "\(path): \(why)"
            }
        }
    }

    /// A new random pair.
    public static func generate() throws -> CurveKeyPair {
        guard zmq_has("curve") == 1 else { throw KeyError.unavailable }
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw KeyError.unavailable }
        return CurveKeyPair(publicKey: String(cString: pub), secretKey: String(cString: sec))
    }

    /// Writes `NAME.key` (both keys, mode 0600) and `NAME.pub` (the public key) in `directory`.
    public func write(directory: URL, name: String) throws -> (secret: URL, public: URL) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let secretURL = directory.appendingPathComponent("\(name).key"),
            publicURL = directory.appendingPathComponent("\(name).pub")
        let fd = open(secretURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw KeyError.badFile(secretURL.path, String(cString: strerror(errno))) }
        fchmod(fd, 0o600)  // also when the file existed with other permissions
        let text = "# StyleFarm CURVE key pair: keep secret\npublic = \(publicKey)\nsecret = \(secretKey)\n"
        let ok = text.withCString { Foundation.write(fd, $0, strlen($0)) } == text.utf8.count
        close(fd)
        guard ok else { throw KeyError.badFile(secretURL.path, "short write") }
        try "\(publicKey)\n".write(to: publicURL, atomically: true, encoding: .utf8)
        return (secretURL, publicURL)
    }

    /// Reads a `.key` file written by `write`.
    public static func read(secretFile url: URL) throws -> CurveKeyPair {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw KeyError.badFile(url.path, "cannot read: \(error.localizedDescription)")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let p = values["public"], let s = values["secret"], isKey(p), isKey(s) else {
            throw KeyError.badFile(
                url.path, "not a StyleFarm key file (needs 'public = …' and 'secret = …', 40 Z85 characters each)")
        }
        var derived = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&derived, s) == 0, String(cString: derived) == p else {
            throw KeyError.badFile(url.path, "the public key does not belong to the secret key")
        }
        return CurveKeyPair(publicKey: p, secretKey: s)
    }

    /// A public key given inline, or a file holding one (a `.pub`, or the first key of a line). An existing file
    /// wins: Z85's alphabet holds `/` and `.`, so a 40-character path would also pass for a key.
    public static func publicKey(_ valueOrPath: String) throws -> String {
        if isKey(valueOrPath), !FileManager.default.fileExists(atPath: valueOrPath) { return valueOrPath }
        let url = URL(fileURLWithPath: valueOrPath)
        guard let text = try? String(contentsOf: url, encoding: .utf8),
            let key = text.split(whereSeparator: \.isWhitespace).map(String.init).first(where: isKey)
        else {
            throw KeyError.badFile(valueOrPath, "neither a 40-character Z85 key nor a readable file holding one")
        }
        return key
    }

    /// A Z85 key's 32 raw bytes (as a CURVE handshake carries it), or nil when it is not a key.
    public static func raw(_ key: String) -> [UInt8]? {
        guard isKey(key) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&bytes, key) == nil ? nil : bytes
    }

    static let z85 = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
    public static func isKey(_ s: String) -> Bool { s.count == 40 && s.allSatisfy { z85.contains($0) } }
}

extension ZMQSocket {
    /// Makes this (bound) socket a CURVE server that asks the ZAP handler about every client.
    public func makeCurveServer(secretKey: String) throws {
        try set(ZMQ_CURVE_SERVER, int: 1)
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8))
        try set(ZMQ_ZAP_DOMAIN, bytes: Array(ZapHandler.domain.utf8))
    }

    /// Makes this (connecting) socket a CURVE client of the server with `serverKey`.
    public func makeCurveClient(serverKey: String, keys: CurveKeyPair) throws {
        try set(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try set(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8))
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }
}

/// How a client of the farm (worker, submit, status) talks to the coordinator: CURVE, or plaintext only
/// when asked for explicitly.
public struct ClientSecurity: Sendable {
    public var serverKey: String?
    public var keys: CurveKeyPair?
    public static let plaintext = ClientSecurity(serverKey: nil, keys: nil)
    public init(serverKey: String?, keys: CurveKeyPair?) {
        self.serverKey = serverKey
        self.keys = keys
    }

    public func apply(to socket: ZMQSocket) throws {
        if let serverKey, let keys { try socket.makeCurveClient(serverKey: serverKey, keys: keys) }
    }
}

/// The coordinator's CURVE identity and the keys it admits, each with its role.
public struct ServerSecurity: Sendable {
    public var keys: CurveKeyPair
    public var allowlist: Allowlist
    public init(keys: CurveKeyPair, allowlist: Allowlist) {
        self.keys = keys
        self.allowlist = allowlist
    }
}
