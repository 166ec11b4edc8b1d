import Imaging
import Testing

@Suite("PlanarImage")
struct PlanarImageTests {
    @Test("planar layout: index = (c * height + y) * width + x")
    func layout() {
        let image = PlanarImage(width: 3, height: 2, channels: 2, pixels: (0 ..< 12).map(Float.init))
        #expect(image[0, 0, 0] == 0 && image[0, 0, 2] == 2 && image[0, 1, 0] == 3 && image[1, 0, 0] == 6)
        #expect(image[1, 1, 2] == 11 && image.index(1, 1, 2) == 11 && image.planeSize == 6)
        var copy = image
        copy[1, 0, 1] = 42
        #expect(copy.pixels[7] == 42 && copy != image)
    }

    @Test("fill initialiser")
    func fill() {
        let image = PlanarImage(width: 4, height: 3, channels: 3, fill: 0.5)
        #expect(image.pixels.count == 36 && image.pixels.allSatisfy { $0 == 0.5 })
    }

    @Test("cropping keeps every channel")
    func crop() {
        let image = PlanarImage(width: 4, height: 3, channels: 2, pixels: (0 ..< 24).map(Float.init))
        let crop = image.cropped(x: 1, y: 1, width: 2, height: 2)
        #expect(crop.width == 2 && crop.height == 2 && crop.channels == 2)
        #expect(crop.pixels == [5, 6, 9, 10, 17, 18, 21, 22])
        #expect(image.cropped(x: 0, y: 0, width: 4, height: 3) == image)
    }

    @Test("clamping to 0...1, NaN to 0")
    func clamp() {
        let image = PlanarImage(width: 5, height: 1, channels: 1, pixels: [-1, 0.25, 1.5, .nan, .infinity])
        #expect(image.clamped().pixels == [0, 0.25, 1, 0, 1])
    }
}
