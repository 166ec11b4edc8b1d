/// An axis-aligned rectangle of pixels: [x, x + width) × [y, y + height).
public struct PixelRect: Sendable, Hashable, Codable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var area: Int { width * height }
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }

    /// This rectangle grown by `margin` on every side, then clipped to a `width`×`height` canvas.
    public func expanded(by margin: Int, within width: Int, _ height: Int) -> PixelRect {
        let x0 = max(0, x - margin), y0 = max(0, y - margin)
        return PixelRect(x: x0, y: y0, width: min(width, maxX + margin) - x0, height: min(height, maxY + margin) - y0)
    }

    /// Whether `other` lies inside this rectangle.
    public func contains(_ other: PixelRect) -> Bool {
        other.x >= x && other.y >= y && other.maxX <= maxX && other.maxY <= maxY
    }
}
