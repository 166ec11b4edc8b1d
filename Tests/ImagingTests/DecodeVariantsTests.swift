import Foundation
import Imaging
import Testing

@Suite("Decoding PNG colour types, JPEG and TIFF variants")
struct DecodeVariantsTests {
    /// The single-channel plane `c` of `image`.
    func plane(_ image: PlanarImage, _ c: Int) -> [Float] {
        Array(image.pixels[(c * image.planeSize) ..< ((c + 1) * image.planeSize)])
    }

    /// Checks that the image is gray with the given 0...1 values in all three channels.
    func expectGray(
        _ image: PlanarImage, _ values: [Float], tolerance: Float = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(image.channels == 3, sourceLocation: sourceLocation)
        for c in 0 ..< 3 {
            #expect(maxDifference(plane(image, c), values) <= tolerance, "channel \(c)", sourceLocation: sourceLocation)
        }
    }

    @Test("8-bit gray PNG is expanded to RGB")
    func gray8() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("gray.png")
        let data: [UInt8] = [0, 1, 127, 128, 254, 255]
        try Fixtures.writeRawPNG(url, width: 3, height: 2, colorType: .gray, bitDepth: 8, data: data)
        let loaded = try ImageIO.read(url)
        #expect(loaded.bitDepth == 8 && !loaded.hadAlpha && loaded.dpi == nil)
        #expect(loaded.image.width == 3 && loaded.image.height == 2)
        expectGray(loaded.image, data.map { Float($0) / 255 })
    }

    @Test("16-bit gray PNG keeps full precision", arguments: [false, true])
    func gray16(withTransparency: Bool) throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("gray16.png")
        let values: [UInt16] = [0, 1, 0x1234, 0xFFFE]
        let data = values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        // A tRNS gray value that matches no pixel must not change anything except hadAlpha.
        try Fixtures.writeRawPNG(
            url, width: 2, height: 2, colorType: .gray, bitDepth: 16, data: data,
            trns: withTransparency ? [0xAB, 0xCD] : [])
        let loaded = try ImageIO.read(url)
        #expect(loaded.bitDepth == 16)
        #expect(loaded.hadAlpha == withTransparency)
        expectGray(loaded.image, values.map { Float($0) / 65535 }, tolerance: withTransparency ? 1e-6 : 0)
    }

    @Test("low bit-depth gray PNGs are scaled to the full range", arguments: [1, 2, 4])
    func grayLowDepth(bitDepth: Int) throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("gray\(bitDepth).png")
        let maxLevel = (1 << bitDepth) - 1
        let levels = (0 ..< 8).map { $0 % (maxLevel + 1) }
        var packed = [UInt8](repeating: 0, count: (8 * bitDepth + 7) / 8)
        for (i, level) in levels.enumerated() {
            let bit = i * bitDepth
            packed[bit / 8] |= UInt8(level << (8 - bitDepth - bit % 8))
        }
        try Fixtures.writeRawPNG(url, width: 8, height: 1, colorType: .gray, bitDepth: bitDepth, data: packed)
        let loaded = try ImageIO.read(url)
        #expect(loaded.bitDepth == bitDepth)
        expectGray(loaded.image, levels.map { Float($0 * (255 / maxLevel)) / 255 })
    }

    @Test("gray+alpha PNG is composited over white")
    func grayAlpha() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("ga.png")
        let pairs: [(UInt8, UInt8)] = [(0, 255), (0, 0), (0, 128), (200, 128), (255, 255), (10, 1)]
        try Fixtures.writeRawPNG(
            url, width: 6, height: 1, colorType: .grayAlpha, bitDepth: 8,
            data: pairs.flatMap { [$0.0, $0.1] })
        let loaded = try ImageIO.read(url)
        #expect(loaded.hadAlpha)
        let expected = pairs.map { g, a -> Float in
            let alpha = Float(a) / 255
            return Float(g) / 255 * alpha + (1 - alpha)
        }
        expectGray(loaded.image, expected, tolerance: 1e-6)
        #expect(loaded.image[0, 0, 1] == 1)  // fully transparent black becomes white
    }

    @Test("RGBA PNG (8 and 16 bit) is composited over white", arguments: [8, 16])
    func rgba(bitDepth: Int) throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("rgba\(bitDepth).png")
        let maxValue = (1 << bitDepth) - 1
        let pixels: [[Int]] = [
            [maxValue, 0, 0, maxValue], [0, maxValue, 0, 0], [0, 0, maxValue, maxValue / 2],
            [maxValue / 3, maxValue / 5, maxValue / 7, maxValue / 4]
        ]
        let data = pixels.flatMap { $0 }.flatMap { v -> [UInt8] in
            bitDepth == 8 ? [UInt8(v)] : [UInt8(v >> 8), UInt8(v & 0xFF)]
        }
        try Fixtures.writeRawPNG(url, width: 2, height: 2, colorType: .rgba, bitDepth: bitDepth, data: data)
        let loaded = try ImageIO.read(url)
        #expect(loaded.hadAlpha && loaded.bitDepth == bitDepth)
        for (i, p) in pixels.enumerated() {
            let alpha = Float(p[3]) / Float(maxValue)
            for c in 0 ..< 3 {
                let expected = Float(p[c]) / Float(maxValue) * alpha + (1 - alpha)
                #expect(abs(loaded.image[c, i / 2, i % 2] - expected) < 1e-6, "pixel \(i) channel \(c)")
            }
        }
    }

    @Test("palette PNG (with and without tRNS, 2-bit and 8-bit indices)", arguments: [2, 8])
    func palette(bitDepth: Int) throws {
        let dir = try TemporaryDirectory()
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
        let indices: [UInt8] = [0, 1, 2, 3]
        let data: [UInt8] = bitDepth == 8 ? indices : [0b0001_1011]
        try Fixtures.writeRawPNG(
            dir.file("p.png"), width: 4, height: 1, colorType: .palette, bitDepth: bitDepth,
            data: data, palette: palette)
        let opaque = try ImageIO.read(dir.file("p.png"))
        #expect(!opaque.hadAlpha && opaque.bitDepth == bitDepth)
        for x in 0 ..< 4 {
            for c in 0 ..< 3 { #expect(opaque.image[c, 0, x] == Float(palette[x * 3 + c]) / 255) }
        }
        // tRNS: entry 0 transparent, entry 1 half transparent, others opaque.
        try Fixtures.writeRawPNG(
            dir.file("t.png"), width: 4, height: 1, colorType: .palette, bitDepth: bitDepth,
            data: data, palette: palette, trns: [0, 128])
        let transparent = try ImageIO.read(dir.file("t.png"))
        #expect(transparent.hadAlpha)
        for c in 0 ..< 3 { #expect(transparent.image[c, 0, 0] == 1) }
        let half = Float(128) / 255
        #expect(abs(transparent.image[0, 0, 1] - (1 - half)) < 1e-6)
        #expect(abs(transparent.image[1, 0, 1] - 1) < 1e-6)
        #expect(transparent.image[2, 0, 2] == 1 && transparent.image[0, 0, 2] == 0)
    }

    @Test("RGB JPEG decodes close to the encoded colours, with JFIF density as DPI")
    func jpegRGB() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("photo.jpeg")
        let width = 16, height = 16
        var data = [UInt8]()
        for y in 0 ..< height {
            for x in 0 ..< width { data += [UInt8(x * 16), UInt8(y * 16), 128] }
        }
        try Fixtures.writeJPEG(url, width: width, height: height, components: 3, data: data, quality: 100, dpi: 240)
        let loaded = try ImageIO.read(url)
        #expect(loaded.format == .jpeg && loaded.bitDepth == 8 && !loaded.hadAlpha)
        #expect(loaded.dpi == 240)
        #expect(loaded.image.width == width && loaded.image.height == height && loaded.image.channels == 3)
        var worst: Float = 0
        for y in 0 ..< height {
            for x in 0 ..< width {
                for c in 0 ..< 3 {
                    worst = max(worst, abs(loaded.image[c, y, x] - Float(data[(y * width + x) * 3 + c]) / 255))
                }
            }
        }
        #expect(worst < 0.05)
    }

    @Test("gray JPEG is expanded to RGB; a JPEG without density has no DPI")
    func jpegGray() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("gray.jpg")
        let data = (0 ..< 64).map { UInt8($0 * 4) }
        try Fixtures.writeJPEG(url, width: 8, height: 8, components: 1, data: data, quality: 100)
        let loaded = try ImageIO.read(url)
        #expect(loaded.dpi == nil)
        let red = plane(loaded.image, 0)
        #expect(red == plane(loaded.image, 1) && red == plane(loaded.image, 2))
        #expect(maxDifference(red, data.map { Float($0) / 255 }) < 0.03)
    }

    @Test("CMYK (Adobe) JPEG is converted to RGB")
    func jpegCMYK() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("cmyk.jpg")
        // Adobe-inverted CMYK: 255 means no ink. White, then red (full M+Y ink), 8x8 blocks each.
        var data = [UInt8]()
        for _ in 0 ..< 8 {
            for x in 0 ..< 16 { data += x < 8 ? [255, 255, 255, 255] : [255, 0, 0, 255] }
        }
        try Fixtures.writeJPEG(url, width: 16, height: 8, components: 4, data: data, quality: 100)
        let image = try ImageIO.read(url).image
        #expect(abs(image[0, 4, 3] - 1) < 0.02 && abs(image[1, 4, 3] - 1) < 0.02 && abs(image[2, 4, 3] - 1) < 0.02)
        #expect(abs(image[0, 4, 12] - 1) < 0.02 && image[1, 4, 12] < 0.02 && image[2, 4, 12] < 0.02)
    }

    @Test("a real photograph decodes")
    func realJPEG() throws {
        let loaded = try ImageIO.read(URL(fileURLWithPath: Self.wave))
        #expect(loaded.format == .jpeg && loaded.image.width > 100 && loaded.image.height > 100)
        let mean = loaded.image.pixels.reduce(0, +) / Float(loaded.image.pixels.count)
        #expect(mean > 0.1 && mean < 0.9)
    }

    /// A repository asset (Assets/demo/ATTRIBUTION.md), so the test runs wherever the repository is.
    static let wave = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path

    @Test("format detection uses the signature, not the extension")
    func detection() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("actually-a-png.jpg")
        try ImageIO.write(PlanarImage(width: 1, height: 1, channels: 3, fill: 0.25), to: dir.file("x.png"))
        try FileManager.default.moveItem(at: dir.file("x.png"), to: url)
        #expect(try ImageIO.read(url).format == .png)
        #expect(ImageFormat.detect(magic: [0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat.detect(magic: Array("II*\0".utf8)) == .tiff)
        #expect(ImageFormat.detect(magic: Array("MM\0*".utf8)) == .tiff)
        #expect(ImageFormat.detect(magic: Array("GIF89a".utf8)) == nil)
        #expect(ImageFormat.detect(magic: [UInt8]()) == nil)
        #expect(ImageFormat.forWriting(pathExtension: "TIF") == .tiff)
        #expect(ImageFormat.forWriting(pathExtension: "jpg") == nil)
    }
}
