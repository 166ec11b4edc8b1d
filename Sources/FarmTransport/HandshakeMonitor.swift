import CZmq
import Foundation
import Synchronization

/// Counts failed handshakes on a socket (a plaintext client at a CURVE socket, a wrong server key, a key the
/// ZAP handler refused) from libzmq's socket monitor, on a thread of its own.
public final class HandshakeMonitor: Sendable {
    let reader: SocketReader
    /// Monitors made in this process, so each gets its own inproc endpoint.
    static let count = Atomic(0)

    public init(watching socket: ZMQSocket, onFailure: @escaping @Sendable (Int32) -> Void) throws {
        let n = Self.count.add(1, ordering: .relaxed).newValue
        let endpoint = "inproc://stylefarm-monitor-\(getpid())-\(n)"
        try socket.monitor(
            endpoint,
            events: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        let pair = try ZMQSocket(.pair)
        try pair.connect(endpoint)
        reader = SocketReader(socket: pair) { frames, _ in
            // Frame 0: the event (UInt16) and a value (UInt32); frame 1: the peer's address.
            guard let first = frames.first, first.count >= 2 else { return }
            onFailure(Int32(first[0]) | Int32(first[1]) << 8)  // safe-int: widening bytes
        }
    }

    public func stop() { reader.stop() }
}

/// Why a CURVE handshake this side started failed, as libzmq's monitor reports it.
public enum HandshakeFailure: Sendable, Equatable {
    /// The coordinator's ZAP handler refused this key (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`): not on its allowlist.
    case keyRefused
    /// The handshake itself failed: the server key is not the coordinator's, or one side speaks plaintext.
    case handshake

    /// What to tell the person at this side, naming the key's public part.
    public func message(endpoint: String, publicKey: String, role: String) -> String {
        switch self {
        case .keyRefused:
            "the coordinator at \(endpoint) refused this \(role) key (public key \(publicKey)): it is not on its allowlist; "
                + "ask its operator to add the key's .pub file to --allow-\(role)s"
        case .handshake:
            "the CURVE handshake with the coordinator at \(endpoint) failed (public key \(publicKey)): is --server-key the "
                + "coordinator's public key, and does it run with CURVE (not --insecure)?"
        }
    }
}

/// Watches one socket's handshakes and keeps the latest failure until `take` reads it (a client or a worker tells its
/// user within seconds that its key was refused, instead of waiting for an answer that cannot come).
public final class HandshakeWatch: Sendable {
    final class Latest: Sendable {
        let event = Atomic<Int32>(0)
    }

    let latest = Latest()
    let monitor: HandshakeMonitor

    public init(_ socket: ZMQSocket) throws {
        let latest = self.latest
        monitor = try HandshakeMonitor(watching: socket) { event in latest.event.store(event, ordering: .relaxed) }
    }

    /// The failure seen since the last call, if any.
    public func take() -> HandshakeFailure? {
        switch latest.event.exchange(0, ordering: .relaxed) {
        case 0: nil
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: .keyRefused
        default: .handshake
        }
    }

    public func stop() { monitor.stop() }
}
