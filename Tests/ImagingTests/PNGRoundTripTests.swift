import Foundation
import Imaging
import Testing

@Suite("PNG and TIFF round trips")
struct PNGRoundTripTests {
    @Test("8-bit PNG round trip is exact, with 300 DPI")
    func png8() throws {
        let dir = try TemporaryDirectory()
        let image = Fixtures.gradient(width: 37, height: 23, levels: 255)
        let url = dir.file("eight.png")
        try ImageIO.write(image, to: url, bitDepth: 8, dpi: 300)
        let loaded = try ImageIO.read(url)
        #expect(loaded.format == .png)
        #expect(loaded.bitDepth == 8)
        #expect(loaded.dpi == 300)
        #expect(loaded.hadAlpha == false)
        expectIdentical(loaded.image, image)
    }

    @Test("16-bit PNG round trip is exact, with 72 DPI")
    func png16() throws {
        let dir = try TemporaryDirectory()
        let image = Fixtures.gradient(width: 19, height: 31, levels: 65535)
        let url = dir.file("sixteen.PNG")
        try ImageIO.write(image, to: url, bitDepth: 16, dpi: 72)
        let loaded = try ImageIO.read(url)
        #expect(loaded.bitDepth == 16)
        #expect(loaded.dpi == 72)
        expectIdentical(loaded.image, image)
    }

    @Test("non-integral DPI and no DPI")
    func dpiVariants() throws {
        let dir = try TemporaryDirectory()
        let image = PlanarImage(width: 2, height: 2, channels: 3, fill: 0.5)
        try ImageIO.write(image, to: dir.file("a.png"), dpi: 150.5)
        let dpi = try #require(try ImageIO.read(dir.file("a.png")).dpi)
        #expect(abs(dpi - 150.5) < 0.01)
        try ImageIO.write(image, to: dir.file("b.png"))
        #expect(try ImageIO.read(dir.file("b.png")).dpi == nil)
    }

    @Test("writing quantises with clamping and round-to-nearest")
    func quantisation() throws {
        let dir = try TemporaryDirectory()
        let values: [Float] = [-0.5, 0, 0.5 / 255, 0.49 / 255, 1.51 / 255, 0.5, 1, 7, .nan]
        let image = PlanarImage(width: values.count, height: 1, channels: 1, pixels: values)
        try ImageIO.write(image, to: dir.file("q.png"), bitDepth: 8)
        let loaded = try ImageIO.read(dir.file("q.png")).image
        let expected: [Float] = [0, 0, 1, 0, 2, 128, 255, 255, 0].map { Float($0) / 255 }
        #expect(loaded.channels == 3)
        for c in 0 ..< 3 {
            #expect(Array(loaded.pixels[(c * values.count) ..< ((c + 1) * values.count)]) == expected)
        }
    }

    @Test("16-bit TIFF round trip is exact, with resolution tags")
    func tiff16() throws {
        let dir = try TemporaryDirectory()
        let image = Fixtures.gradient(width: 300, height: 41, levels: 65535)
        for name in ["out.tif", "out.tiff"] {
            try ImageIO.write(image, to: dir.file(name), bitDepth: 16, dpi: 300)
            let loaded = try ImageIO.read(dir.file(name))
            #expect(loaded.format == .tiff)
            #expect(loaded.bitDepth == 16)
            #expect(loaded.dpi == 300)
            expectIdentical(loaded.image, image)
        }
    }

    @Test("8-bit TIFF and gray TIFF round trips")
    func tiff8AndGray() throws {
        let dir = try TemporaryDirectory()
        let image = Fixtures.gradient(width: 9, height: 5, levels: 255)
        try ImageIO.write(image, to: dir.file("rgb8.tif"), bitDepth: 8, dpi: 72)
        let loaded = try ImageIO.read(dir.file("rgb8.tif"))
        #expect(loaded.bitDepth == 8)
        #expect(loaded.dpi == 72)
        expectIdentical(loaded.image, image)

        let gray = image.cropped(x: 0, y: 0, width: 9, height: 5)
        let plane = PlanarImage(width: 9, height: 5, channels: 1, pixels: Array(gray.pixels[0 ..< 45]))
        try ImageIO.write(plane, to: dir.file("gray.tiff"), bitDepth: 16)
        let grayLoaded = try ImageIO.read(dir.file("gray.tiff"))
        #expect(grayLoaded.dpi == nil)
        for c in 0 ..< 3 { #expect(Array(grayLoaded.image.pixels[(c * 45) ..< ((c + 1) * 45)]) == plane.pixels) }
    }

    @Test("writing replaces an existing file and leaves no temporary files")
    func atomicReplace() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("out.png")
        try ImageIO.write(PlanarImage(width: 4, height: 4, channels: 3, fill: 0), to: url, bitDepth: 8)
        try ImageIO.write(PlanarImage(width: 2, height: 3, channels: 3, fill: 1), to: url, bitDepth: 8)
        let loaded = try ImageIO.read(url).image
        expectIdentical(loaded, PlanarImage(width: 2, height: 3, channels: 3, fill: 1))
        #expect(try dir.contents() == ["out.png"])
    }
}

@Suite("PNG encoded in memory")
struct InMemoryPNGTests {
    @Test("the same bytes as the file write, and the same pixels back", arguments: [8, 16])
    func sameBytesAsTheFile(bitDepth: Int) throws {
        let image = Fixtures.gradient(width: 37, height: 23, levels: (1 << bitDepth) - 1)
        let dir = try TemporaryDirectory()
        let url = dir.file("out.png")
        try ImageIO.write(image, to: url, bitDepth: bitDepth)
        let bytes = try ImageIO.encodePNG(image, bitDepth: bitDepth)
        #expect(bytes == [UInt8](try Data(contentsOf: url)))
        expectIdentical(try ImageIO.read(url).image, image)
    }

    @Test("what PNG cannot hold is refused")
    func refused() {
        #expect(throws: ImageError.self) {
            try ImageIO.encodePNG(PlanarImage(width: 2, height: 2, channels: 2, fill: 0))
        }
        #expect(throws: ImageError.self) {
            try ImageIO.encodePNG(PlanarImage(width: 2, height: 2, channels: 3, fill: 0), bitDepth: 12)
        }
    }

    @Test("quantized(bitDepth:) is what a file of that depth reads back as", arguments: [8, 16])
    func quantizedIsTheRoundTrip(bitDepth: Int) throws {
        // Samples between the levels, outside 0...1 and NaN.
        var image = PlanarImage(width: 7, height: 5, channels: 3, fill: 0)
        for i in image.pixels.indices { image.pixels[i] = Float(i) * 0.0123457 - 0.1 }
        image.pixels[3] = .nan
        image.pixels[4] = 1e30
        let dir = try TemporaryDirectory()
        let url = dir.file("q.png")
        try ImageIO.write(image, to: url, bitDepth: bitDepth)
        let read = try ImageIO.read(url).image
        let quantized = image.quantized(bitDepth: bitDepth)
        expectIdentical(read, quantized)
        #expect(quantized.pixels[20] != image.pixels[20], "a sample between levels moved to one")
        expectIdentical(quantized.quantized(bitDepth: bitDepth), quantized)
    }
}
