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
        try socket.monitor(endpoint, events: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        let pair = try ZMQSocket(.pair)
        try pair.connect(endpoint)
        reader = SocketReader(socket: pair) { frames, _ in
            // Frame 0: the event (UInt16) and a value (UInt32); frame 1: the peer's address.
            guard let first = frames.first, first.count >= 2 else { return }
            onFailure(Int32(first[0]) | Int32(first[1]) << 8)
        }
    }

    public func stop() { reader.stop() }
}
