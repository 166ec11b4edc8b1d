import Foundation

/// The farm protocol's framing (Docs/protocol.md, "Framing"): every message is
/// `[header, body, payload…]` where
/// - header is 4 bytes: `'S' 'F' version command`;
/// - body is a UTF-8 JSON object, at most `Limits.maxBody` bytes;
/// - payload frames are raw bytes (tile pixels as little-endian float32, files), at most
///   `Limits.maxPayloadFrames` frames of `Limits.maxPayload` bytes in all.
/// A ROUTER prepends the peer's routing id, which is not part of the message.
public enum FarmProtocol {
    /// Versions this build speaks; `version` is the one it sends. 2: `options.relativeTolerance` is the stopping
    /// rule's (Docs/protocol.md, "Versions"); a version 1 worker would stop tiles elsewhere, so it is refused.
    public static let versions: [UInt8] = [2]
    public static let version: UInt8 = 2

    public enum Limits {
        public static let maxBody = 64 * 1024
        public static let maxPayloadFrames = 8
        /// Large enough for the weights (about 20 MB) and a 2048² tile's crops (96 MiB).
        public static let maxPayload = 256 * 1024 * 1024
        /// Frames of one message, header and body included.
        public static var maxFrames: Int { 2 + maxPayloadFrames }
        /// Bytes of one message as received, a ROUTER's routing id (at most 255 bytes) included: frames past it are
        /// dropped uncopied (`ZMQSocket.receive`).
        public static var maxMessageBytes: Int { 256 + 4 + maxBody + maxPayload }
        /// ZMQ_MAXMSGSIZE: libzmq disconnects a peer that sends a bigger frame.
        public static var maxFrameSize: Int64 { Int64(maxPayload) }  // safe-int: widening a constant
    }
}

/// Message types (the header's fourth byte).
public enum Command: UInt8, Sendable, CaseIterable {
    // Worker ⇄ coordinator
    case ready = 0x01, welcome = 0x02, heartbeat = 0x03, assign = 0x04, progress = 0x05, result = 0x06
    case failed = 0x07, fetch = 0x08, blob = 0x09, reject = 0x0A, error = 0x0B, goodbye = 0x0C
    // Client ⇄ coordinator
    case submit = 0x10, submitted = 0x11, status = 0x12, statusReply = 0x13, cancel = 0x14
    case fetchOutput = 0x15, output = 0x16, control = 0x17, controlled = 0x18
}

/// Why a message could not be decoded; sent back as an `error` message's `code`.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case tooFewFrames
    case tooManyFrames
    case badHeader
    case unsupportedVersion(UInt8)
    case unknownCommand(UInt8)
    case bodyTooLarge(Int)
    case payloadTooLarge(Int)
    case malformedBody(String)

    public var code: ErrorCode {
        switch self {
        case .tooFewFrames, .tooManyFrames, .badHeader: .framing
        case .unsupportedVersion: .version
        case .unknownCommand: .command
        case .bodyTooLarge, .payloadTooLarge: .size
        case .malformedBody: .body
        }
    }

    public var description: String {
        switch self {
        case .tooFewFrames: "a message needs a header and a body frame"
        case .tooManyFrames:
            "more than \(FarmProtocol.Limits.maxFrames) frames or \(FarmProtocol.Limits.maxMessageBytes) bytes"
        case .badHeader: "the header frame is not 'S' 'F' version command"
        case let .unsupportedVersion(v): "protocol version \(v) is not supported (supported: \(FarmProtocol.versions))"
        case let .unknownCommand(c): "unknown command 0x\(String(c, radix: 16))"
        case let .bodyTooLarge(n): "body of \(n) bytes exceeds \(FarmProtocol.Limits.maxBody)"
        case let .payloadTooLarge(n): "payload of \(n) bytes exceeds \(FarmProtocol.Limits.maxPayload)"
        case let .malformedBody(why): "malformed body: \(why)"
        }
    }
}

/// One decoded message.
public struct Message: Sendable {
    public var command: Command
    public var body: [UInt8]
    public var payload: [[UInt8]]

    public init(_ command: Command, body: [UInt8] = Array("{}".utf8), payload: [[UInt8]] = []) {
        self.command = command
        self.body = body
        self.payload = payload
    }

    /// A message whose body is `value` as JSON. Encoding cannot fail: a non-finite number (which JSON cannot
    /// hold) is written as a string, which the receiver refuses as a malformed body instead of either side dying.
    public init<T: Encodable>(_ command: Command, _ value: T, payload: [[UInt8]] = []) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        self.init(command, body: Array((try? encoder.encode(value)) ?? Data("{}".utf8)), payload: payload)
    }

    /// The frames to send: header, body, payload.
    public var frames: [[UInt8]] {
        [[0x53, 0x46, FarmProtocol.version, command.rawValue], body] + payload
    }

    /// Decodes and checks frames (without a ROUTER's routing id).
    public init(frames: [[UInt8]], truncated: Bool = false) throws {
        guard !truncated, frames.count <= FarmProtocol.Limits.maxFrames else { throw ProtocolError.tooManyFrames }
        guard frames.count >= 2 else { throw ProtocolError.tooFewFrames }
        let h = frames[0]
        guard h.count == 4, h[0] == 0x53, h[1] == 0x46 else { throw ProtocolError.badHeader }
        guard FarmProtocol.versions.contains(h[2]) else { throw ProtocolError.unsupportedVersion(h[2]) }
        guard let command = Command(rawValue: h[3]) else { throw ProtocolError.unknownCommand(h[3]) }
        guard frames[1].count <= FarmProtocol.Limits.maxBody else { throw ProtocolError.bodyTooLarge(frames[1].count) }
        let payloadBytes = frames.dropFirst(2).reduce(0) { $0 + $1.count }
        guard payloadBytes <= FarmProtocol.Limits.maxPayload else { throw ProtocolError.payloadTooLarge(payloadBytes) }
        self.init(command, body: frames[1], payload: Array(frames.dropFirst(2)))
    }

    /// The body decoded as `T`, its fields checked against `WireLimits` when `T` is `WireValidated` (every message
    /// body is): a number or a string outside its bound is refused here, before any code acts on it.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw ProtocolError.malformedBody("\(command) body is not a valid \(T.self): \(error)")
        }
        if let checked = value as? any WireValidated { try checked.validateWire() }
        return value
    }
}
