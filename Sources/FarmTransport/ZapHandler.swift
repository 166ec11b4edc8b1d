import CZmq
import FarmProtocol
import Foundation
import Synchronization

/// A CURVE setup that must not be used.
public struct SecurityError: Error, CustomStringConvertible {
    public let description: String
}

/// The ZAP handler (RFC 27): answers libzmq's authentication requests for the coordinator's CURVE socket from
/// the allowlist. Runs on its own thread with a REP socket on `inproc://zeromq.zap.01`, in the same context as the
/// socket it guards, bound before that socket. An allowed key's connection gets the key as its `User-Id`, which
/// libzmq attaches to every message the connection delivers: that is how the coordinator knows who sent what.
public final class ZapHandler: Sendable {
    public static let domain = "stylefarm"
    /// Refused keys remembered (for `rejected` and the self-test): a bound, as anyone may knock.
    static let refusalsKept = 64
    let allowlist: Allowlist
    /// The latest refused keys and how many were refused in all: written by the reader thread, read by anyone.
    final class Refused: Sendable {
        let state = Mutex<(recent: [String], total: Int)>(([], 0))
    }
    let refused = Refused()
    let reader: SocketReader

    public init(allowlist: Allowlist) throws {
        let socket = try ZMQSocket(.rep)
        try socket.bind("inproc://zeromq.zap.01")
        let refused = self.refused
        // The reader thread owns the REP socket: it reads each request and answers on it.
        reader = SocketReader(socket: socket) { [allowlist] frames, rep in
            let (reply, key) = Self.answer(frames, allowlist: allowlist)
            if let key {
                refused.state.withLock {
                    $0.recent.append(key)
                    if $0.recent.count > Self.refusalsKept {
                        $0.recent.removeFirst($0.recent.count - Self.refusalsKept)
                    }
                    $0.total += 1
                }
            }
            _ = try? rep.send(reply)
        }
        self.allowlist = allowlist
    }

    /// The latest client keys refused (Z85; "" for a client that did not offer CURVE), at most `refusalsKept`.
    public var rejected: [String] { refused.state.withLock { $0.recent } }
    /// How many connections were refused in all.
    public var rejectedTotal: Int { refused.state.withLock { $0.total } }

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
        throw SecurityError(
            description: "CURVE self-test failed: an unknown key was not refused by the ZAP handler within 5 s; "
                + "refusing to start (without a working handler libzmq would admit any client that knows the server key)"
        )
    }

    /// A bound endpoint as a local client reaches it (`tcp://0.0.0.0:P` → `tcp://127.0.0.1:P`).
    static func loopback(_ endpoint: String) -> String {
        endpoint.replacingOccurrences(of: "tcp://0.0.0.0:", with: "tcp://127.0.0.1:")
            .replacingOccurrences(of: "tcp://[::]:", with: "tcp://127.0.0.1:")
    }

    /// One request: 1.0, request id, domain, address, routing id, mechanism, credentials… Returns the reply (with
    /// the key as its user id when allowed) and, when it refuses, the key it refused.
    public static func answer(_ frames: [[UInt8]], allowlist: Allowlist) -> (reply: [[UInt8]], refused: String?) {
        let requestID = frames.count > 1 ? frames[1] : []
        var key = ""
        var ok = false
        if frames.count >= 7, String(decoding: frames[0], as: UTF8.self) == "1.0",
            String(decoding: frames[2], as: UTF8.self) == domain, String(decoding: frames[5], as: UTF8.self) == "CURVE",
            frames[6].count == 32
        {
            var z = [CChar](repeating: 0, count: 41)
            _ = frames[6].withUnsafeBufferPointer { zmq_z85_encode(&z, $0.baseAddress, 32) }
            key = String(cString: z)
            ok = allowlist.caller(key: key) != nil
        }
        let reply: [[UInt8]] = [
            Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
            Array((ok ? "OK" : "key not on the allowlist").utf8), Array((ok ? key : "").utf8), []
        ]
        return (reply, ok ? nil : key)
    }
}
