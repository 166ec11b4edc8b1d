import Foundation
import Imaging
import Testing

/// Reading an image reduced to what its user needs (`ImageNeed`): the declared size of a file never decides the
/// memory its reading takes, and the reduced pixels are the block means of the whole ones.
@Suite struct ReducedReadTests {
    /// Random RGB bytes, so that a wrong block (off by a row or a column) cannot average to the right value.
    static func noise(width: Int, height: Int, channels: Int = 3, seed: UInt64 = 7) -> [UInt8] {
        var state = seed
        return (0 ..< width * height * channels).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// The mean of each `f` x `f` block of `image` (partial blocks at the edges average what they cover), rounded to
    /// `levels` as the reader rounds its integer samples.
    static func blockMeans(_ image: PlanarImage, factor f: Int, levels: Float) -> PlanarImage {
        let w = (image.width + f - 1) / f, h = (image.height + f - 1) / f
        var out = PlanarImage(width: w, height: h, channels: 3, fill: 0)
        for c in 0 ..< 3 {
            for by in 0 ..< h {
                for bx in 0 ..< w {
                    var sum: Float = 0, n: Float = 0
                    for y in by * f ..< min(image.height, by * f + f) {
                        for x in bx * f ..< min(image.width, bx * f + f) {
                            sum += (image.pixels[(c * image.height + y) * image.width + x] * levels).rounded()
                            n += 1
                        }
                    }
                    out.pixels[(c * h + by) * w + bx] = (sum / n).rounded() / levels
                }
            }
        }
        return out
    }

    @Test(arguments: [(100, 60, 25, 15, 4), (101, 61, 25, 15, 4), (37, 90, 10, 10, 3)])
    func aPNGIsReadAsTheMeansOfItsBlocks(width: Int, height: Int, needW: Int, needH: Int, factor: Int) throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("noise.png")
        try Fixtures.writeRawPNG(
            url, width: width, height: height, colorType: .rgb, bitDepth: 8,
            data: Self.noise(width: width, height: height))
        let whole = try ImageIO.read(url)
        let reduced = try ImageIO.read(url, need: .atLeast(width: needW, height: needH))
        #expect(ImageNeed.atLeast(width: needW, height: needH).factor(width: width, height: height) == factor)
        #expect(
            reduced.image.width == (width + factor - 1) / factor
                && reduced.image.height == (height + factor - 1) / factor)
        #expect(reduced.image.width >= needW && reduced.image.height >= needH)
        #expect((reduced.fileWidth, reduced.fileHeight) == (width, height))
        #expect(reduced.image.pixels == Self.blockMeans(whole.image, factor: factor, levels: 255).pixels)
    }

    @Test func aSixteenBitTIFFIsReducedStripByStrip() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("gradient.tif")
        let image = Fixtures.gradient(width: 90, height: 70, levels: 65535)
        try ImageIO.write(image, to: url, bitDepth: 16)
        let whole = try ImageIO.read(url)
        let reduced = try ImageIO.read(url, need: .longSide(30))
        #expect(reduced.image.width == 30 && reduced.image.height == 24 && reduced.bitDepth == 16)
        #expect(reduced.image.pixels == Self.blockMeans(whole.image, factor: 3, levels: 65535).pixels)
    }

    /// JPEG takes libjpeg's DCT scaling (1/8 here, then nothing more): each pixel is its 8x8 block's DC term, the mean
    /// up to rounding and quantisation.
    @Test func aJPEGIsDecodedAtAnEighthAndKeepsItsNeed() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("photo.jpg")
        let width = 512, height = 256
        // Smooth (a photo, not noise), so that no decoded pixel is clamped and the block means are the DC terms.
        let bytes = (0 ..< width * height * 3).map { i -> UInt8 in
            let x = i / 3 % width, y = i / 3 / width
            return [
                UInt8(20 + x * 200 / width), UInt8(20 + y * 200 / height), UInt8(20 + (x + y) * 100 / (width + height))
            ][i % 3]
        }
        try Fixtures.writeJPEG(url, width: width, height: height, components: 3, data: bytes, quality: 98)
        let whole = try ImageIO.read(url)
        let reduced = try ImageIO.read(url, need: .longSide(64))
        #expect(
            reduced.image.width == 64 && reduced.image.height == 32
                && (reduced.fileWidth, reduced.fileHeight) == (512, 256))
        let means = Self.blockMeans(whole.image, factor: 8, levels: 255)
        let worst = zip(reduced.image.pixels, means.pixels).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 3 / 255, "within 3 levels of the block means (\(worst * 255))")
        let between = try ImageIO.read(url, need: .longSide(100))  // 1/4 by DCT (128 px), then no box: 128 / 100 = 1
        #expect(between.image.width == 128 && between.image.height == 64)
    }

    /// An image no larger than its need, or needing the whole, is read exactly as before.
    @Test func noReductionWithoutANeed() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("noise.png")
        try Fixtures.writeRawPNG(
            url, width: 50, height: 40, colorType: .rgb, bitDepth: 8, data: Self.noise(width: 50, height: 40))
        let whole = try ImageIO.read(url)
        for need in [ImageNeed.whole, .atLeast(width: 50, height: 40), .atLeast(width: 26, height: 21), .longSide(26)] {
            #expect(try ImageIO.read(url, need: need).image == whole.image, "\(need)")
        }
    }

    /// The pixel limit bounds what is held, not what the file declares: a 2000x2000 file fits a 300x300 limit when
    /// it is needed at 200x200, and is refused read whole.
    @Test func theLimitBoundsTheReducedImage() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("big.png")
        try Fixtures.writeRawPNG(
            url, width: 2000, height: 2000, colorType: .gray, bitDepth: 8,
            data: [UInt8](repeating: 128, count: 2000 * 2000))
        let limits = ImageLimits(maxSide: 65_535, maxPixels: 300 * 300)
        let reduced = try ImageIO.read(url, limits: limits, need: .atLeast(width: 200, height: 200))
        #expect(
            reduced.image.width == 200 && reduced.image.height == 200
                && reduced.image.pixels.allSatisfy { $0 == Float(128) / 255 })
        #expect(throws: ImageError.self) { try ImageIO.read(url, limits: limits) }
        #expect(throws: ImageError.self, "a need the limit cannot hold is refused too") {
            try ImageIO.read(url, limits: limits, need: .atLeast(width: 1000, height: 1000))
        }
    }

    /// A map of colours (a region mask) is reduced by each block's middle pixel: no mean of two regions' colours appears.
    @Test func aMapOfColoursIsReducedByItsBlocksMiddlePixels() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("regions.png")
        let (width, height) = (451, 300)
        let bytes = (0 ..< width * height).map { i -> UInt8 in i % width > width / 3 + i / width / 2 ? 255 : 0 }
        try Fixtures.writeRawPNG(url, width: width, height: height, colorType: .gray, bitDepth: 8, data: bytes)
        let need = ImageNeed.atLeast(width: 96, height: 64)
        let mean = try ImageIO.read(url, need: need).image
        #expect(mean.pixels.contains { $0 > 0 && $0 < 1 }, "block means mix the colours along the edge")
        let nearest = try ImageIO.read(url, need: need.nearestSampled).image
        #expect(nearest.width == 113 && nearest.height == 75 && nearest.pixels.allSatisfy { $0 == 0 || $0 == 1 })
        // Each pixel is the file's pixel at its block's middle (for the partial last column: of what the block covers).
        for (ox, oy) in [(0, 0), (112, 74), (40, 30), (60, 10)] {
            let cols = min(4, width - ox * 4), rows = min(4, height - oy * 4)
            let x = ox * 4 + cols / 2, y = oy * 4 + rows / 2
            #expect(nearest[0, oy, ox] == Float(bytes[y * width + x]) / 255, "(\(ox), \(oy))")
        }
    }
}
