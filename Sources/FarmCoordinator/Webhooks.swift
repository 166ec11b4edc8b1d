import Crypto
import FarmProtocol
import Foundation

/// Where the coordinator tells its operator that a job ended or a worker was lost (`FarmNotice`; Docs/operations.md,
/// "Webhooks"): the operator's URLs, from the command line only (never a URL a client sent), and the HMAC key's file.
public struct WebhookConfig: Sendable {
    /// http or https URLs with a host (`url(_:)`); none: no webhooks.
    public var urls: [URL] = []
    /// A file whose text (surrounding whitespace removed) is the HMAC key; nil: `webhook-secret` in the state directory,
    /// generated when missing (`WebhookSecret`).
    public var secretFile: URL?
    public var policy = WebhookPolicy()
    public init() {}

    /// A webhook URL as given on the command line: http or https, with a host; anything else is refused.
    public static func url(_ text: String) throws(WebhookError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme)
        else {
            throw WebhookError("--webhook \(text): not an http or https URL")
        }
        guard let host = url.host, !host.isEmpty else { throw WebhookError("--webhook \(text): no host") }
        return url
    }
}

/// A webhook setting that cannot be used, in words for the operator.
public struct WebhookError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How hard a delivery is tried: `attempts` tries, the first at once, then after `firstRetry` seconds, doubling (1, 2, 4,
/// 8 s: given up 15 s after the first failure), each try at most `timeout` seconds; at most `queueLimit` events wait
/// per URL, the oldest dropped (and counted) past it.
public struct WebhookPolicy: Sendable, Equatable {
    public var attempts = 5
    public var firstRetry = 1.0
    public var timeout = 10.0
    public var queueLimit = 1000
    public init() {}

    /// Seconds to wait after try number `attempt` (1 is the first) failed; nil when it was the last.
    public func retryDelay(after attempt: Int) -> Double? {
        guard attempt >= 1, attempt < attempts else { return nil }
        return firstRetry * Double(1 << min(attempt - 1, 30))
    }
}

/// The events waiting for one URL, with when each is next due: a pure value, so its bound and its backoff are tested
/// with numbers for a clock. The sender takes the event due soonest (the oldest first among equals), tries it, and
/// hands it back when the try failed: it waits for its next try or is given up.
public struct WebhookQueue<Item: Sendable>: Sendable {
    public struct Entry: Sendable {
        public var item: Item
        /// Tries made so far.
        public var attempts: Int
        public var due: Double
        /// Arrival order: the lowest is the oldest.
        public let seq: Int
    }

    public let policy: WebhookPolicy
    /// In arrival order.
    public private(set) var waiting: [Entry] = []
    /// Events dropped because the queue was full.
    public private(set) var dropped = 0
    var nextSeq = 0

    public init(policy: WebhookPolicy) { self.policy = policy }

    public var isEmpty: Bool { waiting.isEmpty }

    /// Adds an event due `now`. Past `queueLimit` the oldest waiting event is dropped, counted and returned.
    public mutating func enqueue(_ item: Item, now: Double) -> Item? {
        waiting.append(Entry(item: item, attempts: 0, due: now, seq: nextSeq))
        nextSeq += 1
        return trim()
    }

    /// When the soonest waiting event is due; nil when none waits.
    public var nextDue: Double? { waiting.map(\.due).min() }

    /// Takes the event due soonest, if it is due by `now`.
    public mutating func take(now: Double) -> Entry? {
        guard
            let i = waiting.indices.min(by: { (waiting[$0].due, waiting[$0].seq) < (waiting[$1].due, waiting[$1].seq) }
            ),
            waiting[i].due <= now
        else { return nil }
        return waiting.remove(at: i)
    }

    /// A try of `entry` failed at `now`: it waits `retryDelay` for its next try, and this returns when that is due; nil
    /// when that was its last try (given up). An event the queue filled up behind meanwhile may be dropped (returned).
    public mutating func failed(_ entry: Entry, now: Double) -> (retryAt: Double?, dropped: Item?) {
        var entry = entry
        entry.attempts += 1
        guard let delay = policy.retryDelay(after: entry.attempts) else { return (nil, nil) }
        entry.due = now + delay
        let at = waiting.firstIndex { $0.seq > entry.seq } ?? waiting.endIndex
        waiting.insert(entry, at: at)
        let seq = entry.seq
        let dropped = trim()
        return (waiting.contains { $0.seq == seq } ? entry.due : nil, dropped)
    }

    mutating func trim() -> Item? {
        guard waiting.count > max(policy.queueLimit, 0) else { return nil }
        dropped += 1
        return waiting.removeFirst().item
    }
}

/// One event as it is posted: its id (`StyleFarm-Delivery`, the same on every retry and every URL, so a receiver can
/// drop repeats), its type (`StyleFarm-Event`) and its JSON body (the notice's fields and `id`, keys sorted).
public struct WebhookDelivery: Sendable {
    public let id: String
    public let event: FarmNotice.Kind
    public let body: [UInt8]

    public init(_ notice: FarmNotice, id: String = UUID().uuidString.lowercased()) throws {
        (self.id, event) = (id, notice.event)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        body = [UInt8](try encoder.encode(Envelope(id: id, notice: notice)))
    }

    /// The notice's fields with the delivery's id beside them.
    struct Envelope: Encodable {
        let id: String
        let notice: FarmNotice
        enum Keys: String, CodingKey { case id }
        func encode(to encoder: any Encoder) throws {
            try notice.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(id, forKey: .id)
        }
    }
}

/// `StyleFarm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (as Stripe signs): the receiver
/// recomputes it with the shared key and refuses a body that does not match or a `t` too far from its clock.
public enum WebhookSignature {
    public static let header = "StyleFarm-Signature"

    public static func sign(body: [UInt8], key: [UInt8], time: Int) -> String {
        "t=\(time),v1=\(hex(body: body, key: key, time: time))"
    }

    static func hex(body: [UInt8], key: [UInt8], time: Int) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(time).".utf8) + body, using: SymmetricKey(data: key))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `header` signs `body` with `key` at a time within `tolerance` seconds of `now`.
    public static func verify(_ header: String, body: [UInt8], key: [UInt8], now: Double, tolerance: Double = 300)
        -> Bool
    {
        var fields: [Substring: Substring] = [:]
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let t = fields["t"].flatMap({ Int($0) }), let v1 = fields["v1"],  // safe-int: a failable parse of text
            abs(Double(t) - now) <= tolerance
        else { return false }
        let expected = Array(hex(body: body, key: key, time: t).utf8), given = Array(v1.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0  // in constant time
    }
}

/// The HMAC key: the text of `--webhook-secret-file` (whitespace around it removed; at least 16 bytes), or without
/// one the state directory's `webhook-secret`, created once with 32 random bytes in hex, mode 0600, and kept across
/// restarts so receivers keep verifying.
public enum WebhookSecret {
    public static let fileName = "webhook-secret"

    /// The key, the file it is in, and whether that file was just created.
    public static func load(file: URL?, stateDirectory: URL) throws -> (key: [UInt8], file: URL, created: Bool) {
        let url = file ?? stateDirectory.appendingPathComponent(fileName)
        var created = false
        if file == nil, !FileManager.default.fileExists(atPath: url.path) {
            let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            try create(url, text: key.map { String(format: "%02x", $0) }.joined() + "\n")
            created = true
        }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw WebhookError("cannot read the webhook secret \(url.path): \(error.localizedDescription)")
        }
        let key = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard key.count >= 16 else { throw WebhookError("the webhook secret in \(url.path) is shorter than 16 bytes") }
        return (key, url, created)
    }

    /// Writes a new file readable by its owner only (never over an existing one).
    static func create(_ url: URL, text: String) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw WebhookError("cannot create the webhook secret \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw WebhookError("cannot write the webhook secret \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
