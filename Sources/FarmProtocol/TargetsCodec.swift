import RenderSettings

/// Gram targets on the wire and in caches: "SFGT", layer count, then per layer its name (length-prefixed
/// UTF-8), channels C and C·C float32, all little-endian. Exact floats, so every worker renders alike.
public enum TargetsCodec {
    static let magic: [UInt8] = [0x53, 0x46, 0x47, 0x54]  // "SFGT"

    public static func encode(_ t: GramTargets) -> [UInt8] {
        var out = magic
        func u32(_ v: Int) { out.appendU32(v) }
        u32(t.layers.count)
        for name in t.layers {
            let n = Array(name.utf8), c = t.channels[name]!, g = t.grams[name]!
            u32(n.count)
            out += n
            u32(c)
            g.withUnsafeBytes { out += $0 }
        }
        return out
    }

    public static func decode(_ b: [UInt8]) throws -> GramTargets {
        var o = 0
        func fail(_ why: String) -> ProtocolError { .malformedBody("Gram targets: \(why)") }
        func u32() throws -> Int {
            guard let v = b.u32(at: &o) else { throw fail("truncated") }
            return v
        }
        guard b.count >= 8, Array(b.prefix(4)) == magic else { throw fail("bad magic") }
        o = 4
        var layers: [String] = [], channels: [String: Int] = [:], grams: [String: [Float]] = [:]
        let count = try u32()
        guard count <= VGG19Layers.names.count else { throw fail("too many layers") }
        for _ in 0 ..< count {
            let n = try u32()
            guard n <= 64, o + n <= b.count else { throw fail("bad layer name") }
            let name = String(decoding: b[o ..< o + n], as: UTF8.self)
            o += n
            let c = try u32()
            guard VGG19Layers.names.contains(name), (1 ... 512).contains(c), o + 4 * c * c <= b.count else {
                throw fail("bad layer \(name)")
            }
            var g = [Float](repeating: 0, count: c * c)
            g.withUnsafeMutableBytes { $0.copyBytes(from: b[o ..< o + 4 * c * c]) }
            o += 4 * c * c
            layers.append(name)
            channels[name] = c
            grams[name] = g
        }
        guard o == b.count else { throw fail("trailing bytes") }
        return GramTargets(layers: layers, channels: channels, grams: grams)
    }
}

/// A job's region targets (`RegionTargets`, spatial control) and a stage's region references on the wire: "SFRT",
/// the region count K (at most `maxRegions`), then per region its weight (float32) and one `TargetsCodec` blob,
/// length-prefixed (length 0: no style there). A worker tells the two kinds of targets by their magic.
public enum RegionTargetsCodec {
    static let magic: [UInt8] = [0x53, 0x46, 0x52, 0x54]  // "SFRT"
    /// Regions a job may have: every region adds a guided Gram per layer to each tile's loss.
    public static let maxRegions = 16

    public static func encode(_ t: RegionTargets) -> [UInt8] {
        var out = magic
        func u32(_ v: Int) { out.appendU32(v) }
        u32(t.regions.count)
        for (i, region) in t.regions.enumerated() {
            withUnsafeBytes(of: (i < t.weights.count ? t.weights[i] : 1).bitPattern.littleEndian) { out += $0 }
            let blob = region.map(TargetsCodec.encode) ?? []
            u32(blob.count)
            out += blob
        }
        return out
    }

    /// Whether bytes are region targets (else plain `TargetsCodec` ones).
    public static func isRegionTargets(_ b: [UInt8]) -> Bool { Array(b.prefix(4)) == magic }

    public static func decode(_ b: [UInt8]) throws -> RegionTargets {
        var o = 4
        func fail(_ why: String) -> ProtocolError { .malformedBody("region targets: \(why)") }
        func u32() throws -> Int {
            guard let v = b.u32(at: &o) else { throw fail("truncated") }
            return v
        }
        guard isRegionTargets(b) else { throw fail("bad magic") }
        let count = try u32()
        guard count <= maxRegions else { throw fail("\(count) regions, at most \(maxRegions)") }
        var regions: [GramTargets?] = [], weights: [Float] = []
        for _ in 0 ..< count {
            let weight = Float(bitPattern: UInt32(try u32()))  // safe-int: widening a UInt32 read
            guard weight >= 0, weight.isFinite else { throw fail("bad weight") }
            let n = try u32()
            guard o + n <= b.count else { throw fail("truncated") }
            regions.append(n == 0 ? nil : try TargetsCodec.decode(Array(b[o ..< o + n])))
            weights.append(weight)
            o += n
        }
        guard o == b.count else { throw fail("trailing bytes") }
        return RegionTargets(regions: regions, weights: weights)
    }
}

/// The codecs' integers: UInt32, little-endian.
extension [UInt8] {
    fileprivate mutating func appendU32(_ v: Int) {
        // safe-int: counts the encoder made, checked below 2^32 by the limits
        Swift.withUnsafeBytes(of: UInt32(v).littleEndian) { append(contentsOf: $0) }
    }

    /// The UInt32 at `o`, moving `o` past it; nil when fewer than 4 bytes are left.
    fileprivate func u32(at o: inout Int) -> Int? {
        guard o >= 0, o + 4 <= count else { return nil }
        defer { o += 4 }
        // safe-int: widening bytes
        return Int(self[o]) | Int(self[o + 1]) << 8 | Int(self[o + 2]) << 16 | Int(self[o + 3]) << 24
    }
}
