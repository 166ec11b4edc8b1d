import StyleCore

/// Gram targets on the wire and in caches: "SFGT", layer count, then per layer its name (length-prefixed
/// UTF-8), channels C and C·C float32, all little-endian. Exact floats, so every worker renders alike.
public enum TargetsCodec {
    static let magic: [UInt8] = [0x53, 0x46, 0x47, 0x54]  // "SFGT"

    public static func encode(_ t: GramTargets) -> [UInt8] {
        var out = magic
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out += $0 } }
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
            guard o + 4 <= b.count else { throw fail("truncated") }
            defer { o += 4 }
            return Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24
        }
        guard b.count >= 8, Array(b.prefix(4)) == magic else { throw fail("bad magic") }
        o = 4
        var layers: [String] = [], channels: [String: Int] = [:], grams: [String: [Float]] = [:]
        let count = try u32()
        guard count <= VGG19.layerNames.count else { throw fail("too many layers") }
        for _ in 0 ..< count {
            let n = try u32()
            guard n <= 64, o + n <= b.count else { throw fail("bad layer name") }
            let name = String(decoding: b[o ..< o + n], as: UTF8.self)
            o += n
            let c = try u32()
            guard VGG19.layerNames.contains(name), (1 ... 512).contains(c), o + 4 * c * c <= b.count else { throw fail("bad layer \(name)") }
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
