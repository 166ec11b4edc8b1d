import Imaging

/// An image in the network's input space: (3, H, W), BGR channel order, 0...255 scale, ImageNet mean
/// subtracted (Caffe preprocessing, as the VGG19 weights were trained).
public struct CaffeImage: Sendable, Equatable {
    /// Per-channel means in B, G, R order.
    public static let meanBGR: [Float] = [103.939, 116.779, 123.68]

    public var width: Int
    public var height: Int
    /// (3, H, W)
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == 3 * width * height)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// From an RGB image with values in 0...1.
    public init(_ image: PlanarImage) {
        precondition(image.channels == 3, "expects an RGB image")
        let n = image.width * image.height
        var p = [Float](repeating: 0, count: 3 * n)
        for c in 0 ..< 3 {
            let src = 2 - c  // BGR <- RGB
            for i in 0 ..< n { p[c * n + i] = image.pixels[src * n + i] * 255 - Self.meanBGR[c] }
        }
        self.init(width: image.width, height: image.height, pixels: p)
    }

    /// Back to RGB 0...1, clamped.
    public func planarImage() -> PlanarImage {
        let n = width * height
        var p = [Float](repeating: 0, count: 3 * n)
        for c in 0 ..< 3 {
            let dst = 2 - c
            for i in 0 ..< n { p[dst * n + i] = min(max((pixels[c * n + i] + Self.meanBGR[c]) / 255, 0), 1) }
        }
        return PlanarImage(width: width, height: height, channels: 3, pixels: p)
    }
}
