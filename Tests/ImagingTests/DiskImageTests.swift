import Foundation
import Imaging
import Testing

/// Canvases bigger than memory: files read by region, resizing by region, writing from a source strip by strip.
@Suite struct DiskImageTests {
    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("diskimage-\(UUID().uuidString)-\(name)")
    }

    func pattern(_ w: Int, _ h: Int, channels: Int = 3, seed: Int = 0) -> PlanarImage {
        PlanarImage(
            width: w, height: h, channels: channels,
            pixels: (0 ..< w * h * channels).map { Float(($0 * 7919 + seed * 104_729) % 1009) / 1008 })
    }

    @Test func regionsWrittenAndReadBackAreExact() throws {
        let url = temporary("a.px")
        defer { try? FileManager.default.removeItem(at: url) }
        let image = pattern(37, 23)
        let file = try DiskImage.create(at: url, width: 37, height: 23)
        try file.write(image.cropped(x: 0, y: 0, width: 37, height: 10), y: 0)  // whole rows
        try file.write(image.cropped(x: 0, y: 10, width: 20, height: 13), x: 0, y: 10)  // a rectangle
        try file.write(image.cropped(x: 20, y: 10, width: 17, height: 13), x: 20, y: 10)
        try file.synchronize()
        let reopened = try DiskImage(opening: url)
        #expect(reopened.width == 37 && reopened.height == 23 && reopened.channels == 3)
        #expect(try reopened.whole() == image)
        #expect(
            try reopened.region(x: 5, y: 3, width: 11, height: 17) == image.cropped(x: 5, y: 3, width: 11, height: 17))
        #expect(
            try reopened.region(x: 0, y: 7, width: 37, height: 2) == image.cropped(x: 0, y: 7, width: 37, height: 2))
    }

    @Test func aFileThatIsNotAWholeCanvasIsRefusedByName() throws {
        let url = temporary("b.px")
        defer { try? FileManager.default.removeItem(at: url) }
        _ = try DiskImage.create(at: url, width: 8, height: 8)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: 100)
        try handle.close()
        #expect { try DiskImage(opening: url) } throws: {
            "\($0)".contains("size mismatch") && "\($0)".contains(url.path)
        }
        try Data("PNG not SFPX".utf8).write(to: url)
        #expect { try DiskImage(opening: url) } throws: { "\($0)".contains("not an SFPX file") }
        #expect { try DiskImage(opening: temporary("missing.px")) } throws: { "\($0)".contains("cannot open") }
    }

    @Test(arguments: [
        (41, 29, 97, 61), (97, 61, 41, 29), (64, 48, 64, 20), (64, 48, 20, 48), (30, 30, 30, 30), (512, 8, 7, 300)
    ])
    func aResizedRegionIsExactlyThatRegionOfTheWholeResize(size: (Int, Int, Int, Int)) throws {
        let (iw, ih, ow, oh) = size
        let source = pattern(iw, ih)
        let whole = Resampler.resize(source, width: ow, height: oh)
        let view = ResizedImage(source, width: ow, height: oh)
        for (x, y, w, h) in [
            (0, 0, ow, oh), (0, 0, 1, 1), (ow - 1, oh - 1, 1, 1), (ow / 3, oh / 4, max(1, ow / 2), max(1, oh / 2)),
            (0, oh / 2, ow, oh - oh / 2)
        ] {
            #expect(
                try view.region(x: x, y: y, width: w, height: h) == whole.cropped(x: x, y: y, width: w, height: h),
                "region \(w)x\(h)+\(x)+\(y) of \(iw)x\(ih) → \(ow)x\(oh)")
        }
        let clamped = ResizedImage(source, width: ow, height: oh, clamp: true)
        #expect(try clamped.whole() == whole.clamped())
    }

    @Test(arguments: ["png", "tiff"]) func writingFromStripsGivesTheBytesOfWritingTheWholeImage(ext: String) throws {
        let image = pattern(53, 41)
        let a = temporary("a.\(ext)"), b = temporary("b.\(ext)"), disk = temporary("c.px")
        defer { for u in [a, b, disk] { try? FileManager.default.removeItem(at: u) } }
        try ImageIO.write(image, to: a, bitDepth: 16, dpi: 300)
        let file = try DiskImage.create(at: disk, width: 53, height: 41)
        try file.write(image, y: 0)
        try ImageIO.write(file, to: b, bitDepth: 16, dpi: 300, stripRows: 4)
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }

    @Test func aSourceThatFailsMidWriteLeavesNoFile() throws {
        struct Failing: ImageRegionSource {
            var width: Int { 16 }
            var height: Int { 16 }
            var channels: Int { 3 }
            func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage {
                struct Gone: Error, CustomStringConvertible { var description: String { "disk gone" } }
                guard y < 8 else { throw Gone() }
                return PlanarImage(width: width, height: height, channels: 3, fill: 0.5)
            }
        }
        let dir = temporary("dir")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect { try ImageIO.write(Failing(), to: dir.appendingPathComponent("out.png"), stripRows: 4) } throws: {
            "\($0)".contains("disk gone")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func aBoxDownscaleAveragesWhatEachPixelCovers() throws {
        var image = PlanarImage(width: 40, height: 20, channels: 1, fill: 0)
        for y in 0 ..< 20 { for x in 20 ..< 40 { image[0, y, x] = 1 } }  // right half white
        let small = try image.boxDownscaled(longSide: 4)
        #expect(small.width == 4 && small.height == 2)
        #expect(small.pixels == [0, 0, 1, 1, 0, 0, 1, 1])
    }
}
