import Foundation
import Imaging
import Testing

@Suite("Lanczos-3 resampling")
struct ResamplerTests {
    /// A smooth RGB image (low-frequency sinusoids).
    func smooth(width: Int, height: Int) -> PlanarImage {
        var image = PlanarImage(width: width, height: height, channels: 3, fill: 0)
        for c in 0 ..< 3 {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    let u = Double(x) / Double(width), v = Double(y) / Double(height)
                    image[c, y, x] = Float(0.5 + 0.3 * sin(2 * .pi * (u + 0.5 * v) + Double(c)) * cos(.pi * v))
                }
            }
        }
        return image
    }

    @Test("a constant image stays constant", arguments: [(10, 7, 3, 2), (10, 7, 31, 23), (5, 5, 5, 12), (64, 1, 7, 9)])
    func constant(sizes: (Int, Int, Int, Int)) {
        let image = PlanarImage(width: sizes.0, height: sizes.1, channels: 3, fill: 0.37)
        let out = Resampler.resize(image, width: sizes.2, height: sizes.3)
        #expect(out.width == sizes.2 && out.height == sizes.3 && out.channels == 3)
        #expect(out.pixels.allSatisfy { abs($0 - 0.37) < 1e-5 })
    }

    @Test("up then down approximately recovers a smooth image")
    func upDown() {
        let image = smooth(width: 48, height: 36)
        let up = Resampler.resize(image, width: 113, height: 101)
        let back = Resampler.resize(up, width: 48, height: 36)
        #expect(maxDifference(back.pixels, image.pixels) < 0.01)
        let down = Resampler.resize(image, width: 24, height: 18)
        let again = Resampler.resize(down, width: 48, height: 36)
        #expect(maxDifference(again.pixels, image.pixels) < 0.03)
    }

    @Test("shrinking a one-pixel checkerboard by 4 gives mid grey (antialiasing)")
    func checkerboard() {
        var image = PlanarImage(width: 64, height: 64, channels: 1, fill: 0)
        for y in 0 ..< 64 {
            for x in 0 ..< 64 where (x + y).isMultiple(of: 2) { image[0, y, x] = 1 }
        }
        let out = Resampler.resize(image, width: 16, height: 16)
        #expect(out.pixels.allSatisfy { abs($0 - 0.5) < 0.05 })
        let interior = out.cropped(x: 3, y: 3, width: 10, height: 10)
        #expect(interior.pixels.allSatisfy { abs($0 - 0.5) < 0.01 })
        // Stripes one pixel wide vanish too.
        var stripes = PlanarImage(width: 60, height: 8, channels: 1, fill: 0)
        for y in 0 ..< 8 { for x in stride(from: 0, to: 60, by: 2) { stripes[0, y, x] = 1 } }
        let narrow = Resampler.resize(stripes, width: 15, height: 8).cropped(x: 3, y: 0, width: 9, height: 8)
        #expect(narrow.pixels.allSatisfy { abs($0 - 0.5) < 0.01 })
    }

    @Test(
        "output dimensions are exact for odd and prime sizes",
        arguments: [(17, 13, 7, 11), (101, 3, 2, 97), (97, 89, 53, 131), (2, 2, 3, 5), (31, 37, 1, 41)])
    func dimensions(sizes: (Int, Int, Int, Int)) {
        let out = Resampler.resize(smooth(width: sizes.0, height: sizes.1), width: sizes.2, height: sizes.3)
        #expect(out.width == sizes.2 && out.height == sizes.3)
        #expect(out.pixels.count == sizes.2 * sizes.3 * 3)
        #expect(out.pixels.allSatisfy { $0.isFinite && $0 > -0.2 && $0 < 1.2 })
    }

    @Test("1x1 inputs and outputs")
    func tiny() {
        let one = PlanarImage(width: 1, height: 1, channels: 3, pixels: [0.1, 0.5, 0.9])
        let big = Resampler.resize(one, width: 5, height: 3)
        for c in 0 ..< 3 {
            #expect(
                big.cropped(x: 0, y: 0, width: 5, height: 3).pixels[(c * 15) ..< (c * 15 + 15)]
                    .allSatisfy { abs($0 - one.pixels[c]) < 1e-6 })
        }
        #expect(Resampler.resize(one, width: 1, height: 1) == one)
        let row = PlanarImage(width: 9, height: 1, channels: 1, fill: 0.25)
        let dot = Resampler.resize(row, width: 1, height: 1)
        #expect(dot.width == 1 && dot.height == 1 && abs(dot.pixels[0] - 0.25) < 1e-6)
        let column = Resampler.resize(PlanarImage(width: 1, height: 1, channels: 1, fill: 0.5), width: 1, height: 7)
        #expect(column.height == 7 && column.pixels.allSatisfy { abs($0 - 0.5) < 1e-6 })
    }

    @Test("enlarging by an integer factor interpolates, keeping a linear ramp linear in the interior")
    func ramp() {
        let ramp = PlanarImage(width: 20, height: 1, channels: 1, pixels: (0 ..< 20).map { Float($0) / 19 })
        let out = Resampler.resize(ramp, width: 40, height: 1)
        for x in 8 ..< 32 {
            let expected = (Float(x) + 0.5) / 2 - 0.5
            #expect(abs(out[0, 0, x] - expected / 19) < 2e-3, "x = \(x)")
        }
    }

    @Test("resize(longSide:) keeps the aspect ratio")
    func longSide() {
        let landscape = PlanarImage(width: 400, height: 300, channels: 1, fill: 0.5)
        let a = Resampler.resize(landscape, longSide: 100)
        #expect(a.width == 100 && a.height == 75)
        #expect(Resampler.scaledSize(width: 300, height: 400, longSide: 100) == (75, 100))
        #expect(Resampler.scaledSize(width: 3, height: 1000, longSide: 10) == (1, 10))
        #expect(Resampler.scaledSize(width: 7200, height: 10800, longSide: 512) == (341, 512))
        #expect(Resampler.scaledSize(width: 100, height: 100, longSide: 7) == (7, 7))
        let b = Resampler.resize(PlanarImage(width: 5, height: 3, channels: 3, fill: 1), longSide: 11)
        #expect(b.width == 11 && b.height == 7)
    }
}
