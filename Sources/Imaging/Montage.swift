/// Images laid out in a grid, row by row, on a white sheet, each scaled to one height (`stylefarm montage`: a strip
/// of video frames for the docs, a before-and-after crop).
public enum Montage {
    /// The sheet: cells `height` tall (each image keeps its aspect ratio), `columns` per row, `gap` white pixels
    /// between them; a cell is as wide as the widest scaled image. nil for no images or non-positive sizes.
    public static func compose(_ images: [PlanarImage], columns: Int?, height: Int?, gap: Int) -> PlanarImage? {
        guard let first = images.first, let h = height ?? Optional(first.height), h >= 1, gap >= 0 else { return nil }
        let cells = images.map { image in
            let scaled = (Double(image.width) * Double(h) / Double(max(1, image.height))).rounded()
            let width = Int(min(max(scaled, 1), Double(1 << 30)))  // finite: both sides are positive integers
            return Resampler.resize(image, width: width, height: h).clamped()
        }
        let perRow = max(1, columns ?? cells.count)
        let rows = (cells.count + perRow - 1) / perRow
        let cellWidth = cells.map(\.width).max() ?? 1
        var sheet = PlanarImage(
            width: perRow * cellWidth + (perRow - 1) * gap, height: rows * h + (rows - 1) * gap, channels: 3, fill: 1)
        for (i, cell) in cells.enumerated() {
            let x0 = (i % perRow) * (cellWidth + gap), y0 = (i / perRow) * (h + gap)
            for c in 0 ..< 3 {
                for y in 0 ..< cell.height { for x in 0 ..< cell.width { sheet[c, y0 + y, x0 + x] = cell[c, y, x] } }
            }
        }
        return sheet
    }
}
