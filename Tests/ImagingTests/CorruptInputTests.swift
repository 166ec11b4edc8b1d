import Foundation
import Imaging
import Testing

/// CRC-32 (ISO-HDLC, as used by PNG chunks).
func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0 ..< 8 { crc = (crc >> 1) ^ (crc & 1 == 0 ? 0 : 0xEDB8_8320) }
    }
    return ~crc
}

/// The byte offset of the first chunk of `type` in PNG `data` (pointing at its length field).
func chunkOffset(_ data: [UInt8], _ type: String) -> Int? {
    var offset = 8
    while offset + 8 <= data.count {
        let length = data[offset ..< (offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        if String(decoding: data[(offset + 4) ..< (offset + 8)], as: UTF8.self) == type { return offset }
        offset += 12 + length
    }
    return nil
}

@Suite("Corrupt and hostile input gives a clear ImageError, never a crash")
struct CorruptInputTests {
    /// A small valid PNG's bytes.
    func validPNG(in dir: TemporaryDirectory) throws -> [UInt8] {
        let url = dir.file("valid.png")
        try ImageIO.write(Fixtures.gradient(width: 64, height: 64, levels: 255), to: url, bitDepth: 8)
        return Array(try Data(contentsOf: url))
    }

    /// A small valid JPEG's bytes.
    func validJPEG(in dir: TemporaryDirectory) throws -> [UInt8] {
        let url = dir.file("valid.jpg")
        let data = (0 ..< (32 * 32 * 3)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try Fixtures.writeJPEG(url, width: 32, height: 32, components: 3, data: data)
        return Array(try Data(contentsOf: url))
    }

    /// Writes `bytes` to `name` and returns the error reading it gives.
    func readError(
        _ bytes: [UInt8], _ name: String, in dir: TemporaryDirectory,
        limits: ImageLimits = .default
    ) throws -> (ImageError?, String) {
        let url = dir.file(name)
        try Data(bytes).write(to: url)
        return (imageError { _ = try ImageIO.read(url, limits: limits) }, url.path)
    }

    @Test("missing file")
    func missing() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("nope.png").path
        let error = imageError { _ = try ImageIO.read(URL(fileURLWithPath: path)) }
        #expect(error == .fileNotFound(path))
        #expect(error?.description == "\(path): no such file")
        let inMissingDir = dir.file("no/such/dir.png").path
        #expect(imageError { _ = try ImageIO.read(URL(fileURLWithPath: inMissingDir)) } == .fileNotFound(inMissingDir))
    }

    @Test("empty file, text file, directory")
    func notImages() throws {
        let dir = try TemporaryDirectory()
        let (empty, emptyPath) = try readError([], "empty.png", in: dir)
        #expect(empty == .emptyFile(emptyPath))
        let (text, textPath) = try readError(Array("hello, world\n".utf8), "notes.png", in: dir)
        #expect(text == .unknownFormat(textPath))
        #expect(text?.description == "\(textPath): not a PNG, JPEG or TIFF file")
        let (tiny, tinyPath) = try readError([0x89, 0x50], "two-bytes.png", in: dir)
        #expect(tiny == .unknownFormat(tinyPath))
        let error = imageError { _ = try ImageIO.read(dir.url) }
        #expect(error == .unreadable(dir.url.path, reason: "is a directory"))
    }

    @Test("truncated PNG", arguments: [8, 20, 40, 100, 300])
    func truncatedPNG(keep: Int) throws {
        let dir = try TemporaryDirectory()
        let bytes = try validPNG(in: dir)
        let (error, path) = try readError(Array(bytes.prefix(keep)), "cut.png", in: dir)
        guard case .corrupt(let errorPath, .png, let reason)? = error else {
            Issue.record("expected .corrupt PNG, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path && !reason.isEmpty)
        #expect(error!.description.hasPrefix("\(path): corrupt PNG: "))
    }

    @Test("PNG truncated just before IEND")
    func truncatedBeforeEnd() throws {
        let dir = try TemporaryDirectory()
        let bytes = try validPNG(in: dir)
        let (error, path) = try readError(Array(bytes.dropLast(12)), "no-iend.png", in: dir)
        #expect(error?.path == path)
        if case .corrupt(_, .png, _)? = error {} else { Issue.record("got \(String(describing: error))") }
    }

    @Test("PNG with a corrupted IDAT byte reports a CRC error")
    func corruptIDAT() throws {
        let dir = try TemporaryDirectory()
        var bytes = try validPNG(in: dir)
        let idat = try #require(chunkOffset(bytes, "IDAT"))
        let length = bytes[idat ..< (idat + 4)].reduce(0) { $0 << 8 | Int($1) }
        bytes[idat + 8 + length] ^= 0x55  // the chunk's stored CRC: the data is intact, so only the CRC check fails
        let (error, path) = try readError(bytes, "crc.png", in: dir)
        #expect(error == .corrupt(path, format: .png, reason: "IDAT: CRC error"))
        #expect(error?.description == "\(path): corrupt PNG: IDAT: CRC error")

        bytes[idat + 8 + length] ^= 0x55
        bytes[idat + 8 + length / 2] ^= 0xFF  // a data byte: zlib, row filtering or the CRC check catches it
        let (midError, midPath) = try readError(bytes, "mid.png", in: dir)
        if case .corrupt(midPath, .png, let reason)? = midError {
            #expect(!reason.isEmpty)
        } else {
            Issue.record("got \(String(describing: midError))")
        }
    }

    @Test("PNG whose IHDR claims 100000x100000 is rejected before allocation")
    func hugePNG() throws {
        let dir = try TemporaryDirectory()
        var bytes = try validPNG(in: dir)
        let ihdr = try #require(chunkOffset(bytes, "IHDR"))
        for (field, value) in [(8, 100_000), (12, 100_000)] {
            for k in 0 ..< 4 { bytes[ihdr + field + k] = UInt8((value >> (24 - 8 * k)) & 0xFF) }
        }
        let crc = crc32(bytes[(ihdr + 4) ..< (ihdr + 21)])
        for k in 0 ..< 4 { bytes[ihdr + 21 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xFF) }
        let (error, path) = try readError(bytes, "huge.png", in: dir)
        #expect(error == .tooLarge(path, width: 100_000, height: 100_000, limits: .default))
        #expect(error?.description == "\(path): image is 100000x100000 pixels, over the limit of 65535 pixels per side")
        #expect(!ImageLimits.default.allows(width: 100_000, height: 100_000))
        #expect(ImageLimits.default.allows(width: 16_384, height: 16_384))
        #expect(!ImageLimits.default.allows(width: 16_385, height: 16_384))
        #expect(!ImageLimits(maxSide: .max, maxPixels: .max).allows(width: .max, height: 2))
    }

    @Test("custom limits apply to every format")
    func customLimits() throws {
        let dir = try TemporaryDirectory()
        let image = PlanarImage(width: 40, height: 10, channels: 3, fill: 0.5)
        try ImageIO.write(image, to: dir.file("a.png"))
        try ImageIO.write(image, to: dir.file("a.tif"))
        try Fixtures.writeJPEG(
            dir.file("a.jpg"), width: 40, height: 10, components: 1,
            data: [UInt8](repeating: 9, count: 400))
        for name in ["a.png", "a.tif", "a.jpg"] {
            let url = dir.file(name)
            let side = ImageLimits(maxSide: 39)
            #expect(
                imageError { _ = try ImageIO.read(url, limits: side) }
                    == .tooLarge(url.path, width: 40, height: 10, limits: side))
            let area = ImageLimits(maxSide: 100, maxPixels: 399)
            #expect(
                imageError { _ = try ImageIO.read(url, limits: area) }
                    == .tooLarge(url.path, width: 40, height: 10, limits: area))
            #expect(try ImageIO.read(url, limits: ImageLimits(maxSide: 40, maxPixels: 400)).image.width == 40)
            #expect(
                imageError { _ = try ImageIO.read(url, limits: area) }?.description
                    == "\(url.path): image is 40x10 pixels, over the limit of 399 pixels in total")
        }
    }

    @Test("truncated JPEG is an error, not a grey-filled image", arguments: [0.3, 0.6, 0.95])
    func truncatedJPEG(fraction: Double) throws {
        let dir = try TemporaryDirectory()
        let bytes = try validJPEG(in: dir)
        let (error, path) = try readError(Array(bytes.prefix(Int(Double(bytes.count) * fraction))), "cut.jpg", in: dir)
        guard case .corrupt(let errorPath, .jpeg, let reason)? = error else {
            Issue.record("expected .corrupt JPEG, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(reason.contains("Premature end of JPEG file") || reason.contains("Corrupt JPEG data"))
    }

    @Test("garbage after a JPEG signature")
    func garbageJPEG() throws {
        let dir = try TemporaryDirectory()
        var generator = SystemRandomNumberGenerator()
        for (i, tail) in [
            [UInt8](), Array("not really a jpeg".utf8),
            (0 ..< 4096).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        ].enumerated() {
            let (error, path) = try readError([0xFF, 0xD8, 0xFF] + tail, "garbage\(i).jpg", in: dir)
            guard case .corrupt(let errorPath, .jpeg, let reason)? = error else {
                Issue.record("case \(i): expected .corrupt JPEG, got \(String(describing: error))")
                continue
            }
            #expect(errorPath == path && !reason.isEmpty)
        }
    }

    @Test("JPEG with a corrupted scan")
    func corruptScan() throws {
        let dir = try TemporaryDirectory()
        var bytes = try validJPEG(in: dir)
        for i in stride(from: bytes.count / 2, to: bytes.count - 2, by: 3) where bytes[i] != 0xFF { bytes[i] = 0xFF }
        let (error, path) = try readError(bytes, "scan.jpg", in: dir)
        #expect(error?.path == path)
        if case .corrupt(_, .jpeg, _)? = error {} else { Issue.record("got \(String(describing: error))") }
    }

    @Test("truncated and garbage TIFF")
    func badTIFF() throws {
        let dir = try TemporaryDirectory()
        try ImageIO.write(Fixtures.gradient(width: 50, height: 50, levels: 65535), to: dir.file("ok.tif"))
        let bytes = Array(try Data(contentsOf: dir.file("ok.tif")))
        for (name, data) in [
            ("cut.tif", Array(bytes.prefix(bytes.count / 2))),
            ("header.tif", Array(bytes.prefix(6))),
            ("junk.tif", Array("II*\0".utf8) + [UInt8](repeating: 0xEE, count: 64))
        ] {
            let (error, path) = try readError(data, name, in: dir)
            guard case .corrupt(let errorPath, .tiff, let reason)? = error else {
                Issue.record("\(name): expected .corrupt TIFF, got \(String(describing: error))")
                continue
            }
            #expect(errorPath == path && !reason.isEmpty)
        }
    }
}
