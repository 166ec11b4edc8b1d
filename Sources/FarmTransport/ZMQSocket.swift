import CZmq
import FarmProtocol
import Foundation

/// A libzmq error: the failing call and `zmq_strerror`'s text.
public struct ZMQError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String { "\(call): \(String(cString: zmq_strerror(code)))" }

    static func last(_ call: String) -> ZMQError { ZMQError(call: call, code: zmq_errno()) }
}

/// One libzmq context per process (it owns the I/O thread).
// unchecked: a thin wrapper of a libzmq context, which is thread-safe
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public static let shared = ZMQContext()

    /// A context; `maxSockets` raises libzmq's limit of 1,023 sockets (e.g. for simulated workers).
    public init(maxSockets: Int32? = nil) {
        handle = zmq_ctx_new()!
        if let maxSockets { zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, maxSockets) }
    }
}

/// A thin, typed wrapper of the libzmq sockets the farm uses (ROUTER in the coordinator, DEALER in workers
/// and clients). Not thread-safe, as libzmq sockets are not: one thread owns each socket.
public final class ZMQSocket {
    public enum Kind { case router, dealer, rep, pair }

    private var handle: UnsafeMutableRawPointer?

    public init(_ kind: Kind, context: ZMQContext = .shared) throws {
        guard
            let h = zmq_socket(
                context.handle, [.router: ZMQ_ROUTER, .dealer: ZMQ_DEALER, .rep: ZMQ_REP, .pair: ZMQ_PAIR][kind]!)
        else {
            throw ZMQError.last("zmq_socket")
        }
        handle = h
        try set(ZMQ_LINGER, int: 0)
    }

    deinit { close() }

    public func close() {
        if let h = handle { zmq_close(h) }
        handle = nil
    }

    // MARK: Options, by name (no caller outside this target needs libzmq's constants)

    /// The identity a ROUTER peer sees (`ZMQ_ROUTING_ID`).
    public func setRoutingID(_ id: [UInt8]) throws { try set(ZMQ_ROUTING_ID, bytes: id) }

    /// `ZMQ_MAXMSGSIZE`: libzmq disconnects a peer that sends a bigger frame.
    public func setMaxFrameSize(_ bytes: Int64) throws { try set(ZMQ_MAXMSGSIZE, int64: bytes) }

    /// `ZMQ_SNDHWM` and `ZMQ_RCVHWM`: messages queued per peer before sends fail (we never block).
    public func setHighWaterMarks(_ messages: Int32) throws {
        try set(ZMQ_SNDHWM, int: messages)
        try set(ZMQ_RCVHWM, int: messages)
    }

    /// `ZMQ_HANDSHAKE_IVL`: how long a connecting peer may take over its (CURVE) handshake.
    public func setHandshakeTimeout(milliseconds: Int32) throws { try set(ZMQ_HANDSHAKE_IVL, int: milliseconds) }

    /// A ROUTER's options: `ZMQ_ROUTER_MANDATORY` (a send to an unknown peer fails instead of vanishing) and
    /// `ZMQ_ROUTER_HANDOVER` (a reconnecting peer with the same routing id takes over its old connection).
    public func setRouterOptions(mandatory: Bool, handover: Bool) throws {
        try set(ZMQ_ROUTER_MANDATORY, int: mandatory ? 1 : 0)
        try set(ZMQ_ROUTER_HANDOVER, int: handover ? 1 : 0)
    }

    func set(_ option: Int32, int value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(option))")
        }
    }

    func set(_ option: Int32, int64 value: Int64) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(option))")
        }
    }

    func set(_ option: Int32, bytes: [UInt8]) throws {
        guard zmq_setsockopt(handle, option, bytes, bytes.count) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(option))")
        }
    }

    /// Binds and returns the endpoint actually bound (a `*` port resolved).
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
        var buf = [CChar](repeating: 0, count: 256)
        var size = buf.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buf, &size) == 0 else { return endpoint }
        return String(cString: buf)
    }

    /// Publishes this socket's events matching `events` on a PAIR socket bound to `endpoint` (inproc).
    public func monitor(_ endpoint: String, events: Int32) throws {
        guard zmq_socket_monitor(handle, endpoint, events) == 0 else { throw ZMQError.last("zmq_socket_monitor") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// Sends a multipart message without blocking. Returns false when it cannot be sent now: the peer is
    /// unknown or gone (ROUTER_MANDATORY), or its queue is full.
    @discardableResult
    public func send(_ frames: [[UInt8]]) throws -> Bool {
        for (i, frame) in frames.enumerated() {
            let flags = ZMQ_DONTWAIT | (i < frames.count - 1 ? ZMQ_SNDMORE : 0)
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, frame.count, flags) }
            if rc < 0 {
                let e = zmq_errno()
                if e == EAGAIN || e == EHOSTUNREACH {
                    // A partly sent message is dropped by libzmq when the first frame fails; later frames
                    // cannot fail for these reasons once the first went out.
                    return false
                }
                throw ZMQError(call: "zmq_send", code: e)
            }
        }
        return true
    }

    /// Waits up to `timeout` seconds for a message; returns its frames, or nil on timeout. Frames beyond
    /// `maxFrames`, and every frame from the one that takes the message past `maxBytes`, are read and dropped
    /// without being copied, and `truncated` says so: a peer's ten frames of 256 MiB are never held together.
    /// `userID` is the `User-Id` the ZAP handler gave the sender's connection (the CURVE key it authenticated), nil
    /// on a connection without ZAP.
    public func receive(
        timeout: Double, maxFrames: Int = 16,
        maxBytes: Int = FarmProtocol.Limits.maxMessageBytes
    ) throws -> (frames: [[UInt8]], truncated: Bool, userID: String?)? {
        // safe-int: a libzmq constant
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let rc = zmq_poll(&item, 1, Int(saturating: max(0, min(timeout * 1000, 2e9))))
        if rc < 0 {
            if zmq_errno() == EINTR { return nil }
            throw ZMQError.last("zmq_poll")
        }
        guard rc > 0 else { return nil }
        var frames: [[UInt8]] = []
        var more = true
        var overflow = false
        var userID: String?
        var bytes = 0
        while more {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            guard zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) >= 0 else {
                if zmq_errno() == EAGAIN { break }
                throw ZMQError.last("zmq_msg_recv")
            }
            let size = zmq_msg_size(&msg)
            bytes += size
            if frames.count < maxFrames, !overflow, bytes <= maxBytes {
                let data = zmq_msg_data(&msg)
                frames.append(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                overflow = true
            }
            // A ROUTER's routing-id frame carries no metadata; the peer's own frames do.
            if userID == nil, let id = zmq_msg_gets(&msg, "User-Id") { userID = String(cString: id) }
            more = zmq_msg_more(&msg) != 0
        }
        return (frames, overflow, userID)
    }
}
