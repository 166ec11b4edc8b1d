import Imaging
import Testing

@Suite("Colour preservation by luminance transfer")
struct ColorTransferTests {
    func luma(_ image: PlanarImage, _ i: Int) -> Float {
        let p = image.planeSize
        return 0.299 * image.pixels[i] + 0.587 * image.pixels[p + i] + 0.114 * image.pixels[2 * p + i]
    }

    func chroma(_ image: PlanarImage, _ i: Int) -> (Float, Float) {
        let p = image.planeSize, y = luma(image, i)
        return ((image.pixels[2 * p + i] - y) / 1.772, (image.pixels[i] - y) / 1.402)
    }

    func random(width: Int, height: Int, seed: UInt64) -> PlanarImage {
        var state = seed
        let pixels = (0 ..< (width * height * 3)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        return PlanarImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    @Test("output luma is the styled luma and output chroma is the original's")
    func transfer() {
        let styled = random(width: 23, height: 17, seed: 1)
        let original = random(width: 23, height: 17, seed: 2)
        let out = ColorTransfer.preserveColors(styled: styled, original: original)
        #expect(out.width == 23 && out.height == 17 && out.channels == 3)
        for i in 0 ..< out.planeSize {
            #expect(abs(luma(out, i) - luma(styled, i)) < 1e-4)
            let (cb, cr) = chroma(out, i), (cb0, cr0) = chroma(original, i)
            #expect(abs(cb - cb0) < 1e-4 && abs(cr - cr0) < 1e-4)
        }
    }

    @Test("a gray original makes a gray result; identical inputs are unchanged")
    func grayAndIdentity() {
        let styled = random(width: 8, height: 8, seed: 3)
        let gray = PlanarImage(width: 8, height: 8, channels: 3, fill: 0.4)
        let out = ColorTransfer.preserveColors(styled: styled, original: gray)
        for i in 0 ..< out.planeSize {
            #expect(abs(out.pixels[i] - out.pixels[64 + i]) < 1e-5 && abs(out.pixels[i] - out.pixels[128 + i]) < 1e-5)
        }
        let same = ColorTransfer.preserveColors(styled: styled, original: styled)
        #expect(maxDifference(same.pixels, styled.pixels) < 1e-5)
    }

    @Test("an original of another size is resized to the styled size")
    func otherSize() {
        let styled = random(width: 20, height: 10, seed: 4)
        let original = PlanarImage(
            width: 7, height: 5, channels: 3,
            pixels: [Float](repeating: 0.2, count: 35)
                + [Float](repeating: 0.5, count: 35) + [Float](repeating: 0.8, count: 35))
        let out = ColorTransfer.preserveColors(styled: styled, original: original)
        #expect(out.width == 20 && out.height == 10)
        let (cb0, cr0) = chroma(original, 0)
        for i in 0 ..< out.planeSize {
            let (cb, cr) = chroma(out, i)
            #expect(abs(cb - cb0) < 1e-4 && abs(cr - cr0) < 1e-4)
        }
    }
}
