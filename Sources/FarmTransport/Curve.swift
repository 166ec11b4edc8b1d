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
        let secretURL = directory.appendingPathComponent("\(name).key"), publicURL = directory.appendingPathComponent("\(name).pub")
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
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw KeyError.badFile(url.path, "cannot read: \(error.localizedDescription)") }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let p = values["public"], let s = values["secret"], isKey(p), isKey(s) else {
            throw KeyError.badFile(url.path, "not a StyleFarm key file (needs 'public = …' and 'secret = …', 40 Z85 characters each)")
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
              let key = text.split(whereSeparator: \.isWhitespace).map(String.init).first(where: isKey) else {
            throw KeyError.badFile(valueOrPath, "neither a 40-character Z85 key nor a readable file holding one")
        }
        return key
    }

    /// Public keys from files and directories (every `*.pub` in them): an allowlist.
    public static func allowlist(_ paths: [String]) throws -> Set<String> {
        var keys: Set<String> = []
        for path in paths {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where name.hasSuffix(".pub") {
                    keys.insert(try publicKey(URL(fileURLWithPath: path).appendingPathComponent(name).path))
                }
            } else {
                keys.insert(try publicKey(path))
            }
        }
        return keys
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

/// Reads one socket on a thread of its own, handing each message to `handle` on that thread, until
/// `stop`; then closes the socket. The ZAP handler and the handshake monitor are two of these.
final class SocketReader: @unchecked Sendable {
    let socket: ZMQSocket
    let handle: ([[UInt8]]) -> Void
    let lock = NSLock()
    var stopped = false
    let done = DispatchSemaphore(value: 0)

    init(socket: ZMQSocket, handle: @escaping ([[UInt8]]) -> Void) {
        self.socket = socket
        self.handle = handle
        Thread { [self] in loop() }.start()
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        done.wait()
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    func loop() {
        defer {
            socket.close()
            done.signal()
        }
        while !isStopped {
            if let (frames, _) = try? socket.receive(timeout: 0.1, maxFrames: 16) { handle(frames) }
        }
    }
}

/// A CURVE setup that must not be used.
public struct SecurityError: Error, CustomStringConvertible {
    public let description: String
}

/// The ZAP handler (RFC 27): answers libzmq's authentication requests for the coordinator's CURVE socket from
/// an allowlist of client public keys. Runs on its own thread with a REP socket on `inproc://zeromq.zap.01`,
/// in the same context as the socket it guards, bound before that socket.
public final class ZapHandler: @unchecked Sendable {
    public static let domain = "stylefarm"
    let allowlist: Set<String>
    let lock = NSLock()
    var _rejected: [String] = []
    var reader: SocketReader!

    public init(allowlist: Set<String>) throws {
        self.allowlist = allowlist
        let socket = try ZMQSocket(.rep)
        try socket.bind("inproc://zeromq.zap.01")
        reader = SocketReader(socket: socket) { [self] in answer($0, on: socket) }
    }

    /// Client keys refused so far (Z85; "" for a client that did not offer CURVE).
    public var rejected: [String] {
        lock.lock()
        defer { lock.unlock() }
        return _rejected
    }

    public func stop() { reader.stop() }

    /// Connects to `endpoint` with a fresh, unknown key and checks that this handler refuses it within 5 s.
    /// libzmq 4.3.4 lets any client that knows the server key in when no handler answers, so a coordinator that
    /// cannot prove its handler works must not start.
    public func selfTest(serverKey: String, endpoint: String) throws {
        let probe = try CurveKeyPair.generate()
        let client = try ZMQSocket(.dealer)
        defer { client.close() }
        try client.makeCurveClient(serverKey: serverKey, keys: probe)
        try client.connect(Self.loopback(endpoint))
        _ = try client.send([[0]])
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if rejected.contains(probe.publicKey) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw SecurityError(description: "CURVE self-test failed: an unknown key was not refused by the ZAP handler within 5 s; "
            + "refusing to start (without a working handler libzmq would admit any client that knows the server key)")
    }

    /// A bound endpoint as a local client reaches it (`tcp://0.0.0.0:P` → `tcp://127.0.0.1:P`).
    static func loopback(_ endpoint: String) -> String {
        endpoint.replacingOccurrences(of: "tcp://0.0.0.0:", with: "tcp://127.0.0.1:")
            .replacingOccurrences(of: "tcp://[::]:", with: "tcp://127.0.0.1:")
    }

    /// One request: 1.0, request id, domain, address, routing id, mechanism, credentials…
    func answer(_ frames: [[UInt8]], on socket: ZMQSocket) {
        let requestID = frames.count > 1 ? frames[1] : []
        var key = ""
        var ok = false
        if frames.count >= 7, String(decoding: frames[0], as: UTF8.self) == "1.0",
           String(decoding: frames[2], as: UTF8.self) == Self.domain, String(decoding: frames[5], as: UTF8.self) == "CURVE",
           frames[6].count == 32 {
            var z = [CChar](repeating: 0, count: 41)
            _ = frames[6].withUnsafeBufferPointer { zmq_z85_encode(&z, $0.baseAddress, 32) }
            key = String(cString: z)
            ok = allowlist.contains(key)
        }
        if !ok {
            lock.lock()
            _rejected.append(key)
            lock.unlock()
        }
        let reply: [[UInt8]] = [Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
                                Array((ok ? "OK" : "key not on the allowlist").utf8), Array((ok ? key : "").utf8), []]
        _ = try? socket.send(reply)
    }
}

/// Counts failed handshakes on a socket (a plaintext client at a CURVE socket, a wrong server key, a key the
/// ZAP handler refused) from libzmq's socket monitor, on a thread of its own.
public final class HandshakeMonitor: @unchecked Sendable {
    var reader: SocketReader!
    static let counter = NSLock()
    nonisolated(unsafe) static var count = 0

    public init(watching socket: ZMQSocket, onFailure: @escaping @Sendable (Int32) -> Void) throws {
        Self.counter.lock()
        Self.count += 1
        let endpoint = "inproc://stylefarm-monitor-\(getpid())-\(Self.count)"
        Self.counter.unlock()
        try socket.monitor(endpoint, events: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        let pair = try ZMQSocket(.pair)
        try pair.connect(endpoint)
        reader = SocketReader(socket: pair) { frames in
            // Frame 0: the event (UInt16) and a value (UInt32); frame 1: the peer's address.
            guard let first = frames.first, first.count >= 2 else { return }
            onFailure(Int32(first[0]) | Int32(first[1]) << 8)
        }
    }

    public func stop() { reader.stop() }
}

/// The coordinator's CURVE identity and the public keys of the clients (workers, submitters) it admits.
public struct ServerSecurity: Sendable {
    public var keys: CurveKeyPair
    public var allowlist: Set<String>
    public init(keys: CurveKeyPair, allowlist: Set<String>) {
        self.keys = keys
        self.allowlist = allowlist
    }
}
