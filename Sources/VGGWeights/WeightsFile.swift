import Crypto
import Foundation

/// StyleFarm's own weights file (`.sfw`), documented in Docs/weights-format.md.
///
/// Layout (little-endian):
/// ```
/// magic     8 bytes  "SFVGGW\r\n"
/// version   u32      1
/// count     u32      number of layers
/// layer[count]:
///   nameLen u16, name (UTF-8), out u32, in u32, kh u32, kw u32,
///   table   f32[256]
///   indices u8[out*in*kh*kw]   (OIHW)
///   bias    f32[out]
/// sha256    32 bytes  of every byte before it
/// ```
public enum WeightsFile {
    public static let magic: [UInt8] = Array("SFVGGW\r\n".utf8)
    public static let version: UInt32 = 1
    /// Refuse anything larger than this before reading it whole (VGG19 is about 20 MB).
    public static let maxBytes = 256 << 20

    /// Serialises the weights, with the trailing checksum.
    public static func encode(_ weights: VGG19Weights) -> [UInt8] {
        var out = magic
        out.reserveCapacity(21 << 20)
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out.append(contentsOf: $0) } }
        func floats(_ v: [Float]) {
            for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        u32(Int(version))
        u32(weights.layers.count)
        for l in weights.layers {
            let name = Array(l.name.utf8)
            withUnsafeBytes(of: UInt16(name.count).littleEndian) { out.append(contentsOf: $0) }
            out += name
            for v in [l.outChannels, l.inChannels, l.kernelHeight, l.kernelWidth] { u32(v) }
            floats(l.table)
            out += l.indices
            floats(l.bias)
        }
        out += Array(SHA256.hash(data: out))
        return out
    }

    /// Parses and verifies a weights file's bytes. `path` only names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String = "weights") throws -> VGG19Weights {
        func corrupt(_ why: String) -> WeightsError { .corrupt(path: path, reason: why) }
        guard bytes.count >= magic.count + 8 + 32 else { throw corrupt("file is too short (\(bytes.count) bytes)") }
        guard Array(bytes[0 ..< magic.count]) == magic else {
            throw corrupt("not a StyleFarm weights file (bad magic); run `stylefarm weights install`")
        }
        let body = bytes[0 ..< bytes.count - 32]
        let stored = Array(bytes[(bytes.count - 32)...])
        let actual = Array(SHA256.hash(data: body))
        guard stored == actual else { throw corrupt("checksum mismatch: the file is truncated or damaged") }
        var r = ByteReader(bytes: bytes, end: bytes.count - 32)
        do {
            let v = try r.u32()
            guard v == version else { throw corrupt("format version \(v), this build reads version \(version)") }
            let count = Int(try r.u32())
            guard count <= 64 else { throw corrupt("implausible layer count \(count)") }
            var layers: [ConvLayerWeights] = []
            for _ in 0 ..< count {
                let nameLen = Int(try r.u16())
                let name = String(decoding: try r.bytes(nameLen), as: UTF8.self)
                let dims = try (0 ..< 4).map { _ in Int(try r.u32()) }
                guard dims.allSatisfy({ $0 > 0 && $0 <= 8192 }) else {
                    throw corrupt("\(name): implausible shape \(dims)")
                }
                let table = try r.floats(256)
                let indices = try r.bytes(dims.reduce(1, *))
                let bias = try r.floats(dims[0])
                layers.append(
                    ConvLayerWeights(
                        name: name, outChannels: dims[0], inChannels: dims[1], kernelHeight: dims[2],
                        kernelWidth: dims[3], table: table, indices: indices, bias: bias))
            }
            guard r.offset == r.end else { throw corrupt("\(r.end - r.offset) unexpected bytes after the last layer") }
            return try VGG19Weights(layers: layers)
        } catch ByteReader.Truncated.truncated {
            throw corrupt("ends in the middle of a layer")
        }
    }

    /// Reads and verifies a weights file.
    public static func read(_ url: URL) throws -> VGG19Weights {
        let attrs = try? FileManager.default.attributesOfItem(atPath: url.path)
        guard let size = attrs?[.size] as? Int else {
            throw WeightsError.notFound(
                path: url.path, hint: "Run `stylefarm weights install` first, or pass --weights PATH.")
        }
        guard size <= maxBytes else {
            throw WeightsError.corrupt(path: url.path, reason: "file is \(size) bytes, too large")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw WeightsError.corrupt(path: url.path, reason: "cannot be read")
        }
        return try decode([UInt8](data), path: url.path)
    }

    /// Writes the weights atomically (a temporary file renamed into place).
    public static func write(_ weights: VGG19Weights, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(encode(weights)).write(to: url, options: .atomic)
    }
}

/// Little-endian cursor over a byte array; throws `.truncated` rather than reading past `end`.
struct ByteReader {
    enum Truncated: Error { case truncated }
    let bytes: [UInt8]
    let end: Int
    var offset = 0

    init(bytes: [UInt8], end: Int) {
        self.bytes = bytes
        self.end = end
        self.offset = WeightsFile.magic.count
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= end else { throw Truncated.truncated }
        defer { offset += n }
        return Array(bytes[offset ..< offset + n])
    }

    mutating func u16() throws -> UInt16 {
        let b = try bytes(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        let b = try bytes(4)
        return b.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func floats(_ n: Int) throws -> [Float] {
        let b = try bytes(n * 4)
        return b.withUnsafeBytes { raw in
            (0 ..< n).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
        }
    }
}
