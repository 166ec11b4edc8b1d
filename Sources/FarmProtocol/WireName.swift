/// A name the wire spells as a JSON string, with a type of its own so that a job id cannot be passed where a lease
/// token is meant, and a code cannot be misspelt where a constant exists. Codable as its string (the standard
/// library's `RawRepresentable` coding), so typing a field never changes the bytes on the wire.
public protocol WireName: RawRepresentable<String>, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    init(rawValue: String)
}

extension WireName {
    public init(_ rawValue: String) { self.init(rawValue: rawValue) }
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// What a `fetch` asks for and a `blob` carries (Docs/protocol.md, "Blobs"); a kind this build does not know decodes as
/// itself and is refused by `FetchBody`'s limits, naming the field.
public struct BlobKind: WireName {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The network's weights (`.sfw`), by their SHA-256.
    public static let weights = BlobKind("weights")
    /// A job's Gram targets, or a stage's reference Grams (`TargetsCodec`, `RegionTargetsCodec`).
    public static let targets = BlobKind("targets")
    /// Every kind this protocol version defines.
    public static let known: [BlobKind] = [.weights, .targets]
}
