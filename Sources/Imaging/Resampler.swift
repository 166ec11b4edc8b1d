import Foundation

/// Resizes planar images with a separable Lanczos-3 filter.
///
/// Each axis uses a precomputed weight table (`ResampleTable`); shrinking widens the kernel by the reduction factor
/// so fine detail is averaged rather than aliased, and edges are handled by clamping to the border sample. The two
/// passes run in whichever order is cheaper, in parallel over channels and rows, with no per-pixel allocation.
/// Lanczos rings slightly at sharp edges, so results may leave `0...1`; call `clamped()` if that matters.
public enum Resampler {
    /// Resizes `image` to exactly `width` x `height` (both at least 1). Same-size input is returned unchanged.
    public static func resize(_ image: PlanarImage, width: Int, height: Int) -> PlanarImage {
        precondition(image.width > 0 && image.height > 0, "cannot resize an empty image")
        let plan = Plan(inputWidth: image.width, inputHeight: image.height, width: width, height: height)
        return plan.region(x: 0, y: 0, width: width, height: height, channels: image.channels, read: image.cropped)
    }

    /// A resize from one size to another: its two weight tables and the order of its passes. `region` computes
    /// any rectangle of the output from just the input rectangle it depends on, with exactly the arithmetic of
    /// resizing the whole image, so a canvas too big to hold can be resized strip by strip or tile by tile.
    public struct Plan: Sendable {
        public let inputWidth: Int, inputHeight: Int, width: Int, height: Int
        let horizontal: ResampleTable?
        let vertical: ResampleTable?
        /// Whether the row pass (along x) runs before the column pass (along y).
        let rowsFirst: Bool

        public init(inputWidth: Int, inputHeight: Int, width: Int, height: Int) {
            precondition(width > 0 && height > 0, "target size \(width)x\(height) must be positive")
            precondition(inputWidth > 0 && inputHeight > 0, "cannot resize an empty image")
            (self.inputWidth, self.inputHeight, self.width, self.height) = (inputWidth, inputHeight, width, height)
            let horizontal = width == inputWidth ? nil : ResampleTable(inputCount: inputWidth, outputCount: width)
            let vertical = height == inputHeight ? nil : ResampleTable(inputCount: inputHeight, outputCount: height)
            (self.horizontal, self.vertical) = (horizontal, vertical)
            if let horizontal, let vertical {
                // Row passes gather through an index table; column passes are contiguous vector work, so count them
                // as half the cost when choosing the order.
                let rows = 2 * inputHeight * width * horizontal.taps + height * width * vertical.taps
                let columns = height * inputWidth * vertical.taps + 2 * height * width * horizontal.taps
                rowsFirst = rows <= columns
            } else {
                rowsFirst = true
            }
        }

        /// Output pixels [x, x + w) × [y, y + h), all channels. `read(x, y, w, h)` supplies an input rectangle.
        public func region(
            x: Int, y: Int, width w: Int, height h: Int, channels: Int,
            read: (Int, Int, Int, Int) throws -> PlanarImage
        ) rethrows -> PlanarImage {
            precondition(
                x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height,
                "region \(w)x\(h)+\(x)+\(y) outside \(width)x\(height)")
            let hs = horizontal?.slice(x ..< x + w), vs = vertical?.slice(y ..< y + h)
            let cols = hs?.inputs ?? x ..< x + w, rows = vs?.inputs ?? y ..< y + h
            let input = try read(cols.lowerBound, rows.lowerBound, cols.count, rows.count)
            var pixels = input.pixels
            if rowsFirst, let hs { pixels = resampleRows(pixels, rows: rows.count, channels: channels, hs.table) }
            if let vs {
                pixels = resampleColumns(
                    pixels, width: hs == nil || rowsFirst ? w : cols.count, channels: channels, vs.table)
            }
            if !rowsFirst, let hs { pixels = resampleRows(pixels, rows: h, channels: channels, hs.table) }
            return PlanarImage(width: w, height: h, channels: channels, pixels: pixels)
        }
    }

    /// Resizes so the longer side becomes `longSide`, keeping the aspect ratio (the other side is rounded to the
    /// nearest integer and is at least 1).
    public static func resize(_ image: PlanarImage, longSide: Int) -> PlanarImage {
        let size = scaledSize(width: image.width, height: image.height, longSide: longSide)
        return resize(image, width: size.width, height: size.height)
    }

    /// The size `resize(_:longSide:)` produces for a `width` x `height` input.
    public static func scaledSize(width: Int, height: Int, longSide: Int) -> (width: Int, height: Int) {
        precondition(longSide > 0 && width > 0 && height > 0, "sizes must be positive")
        if width >= height {
            return (longSide, max(1, Int((Double(height) * Double(longSide) / Double(width)).rounded())))
        }
        return (max(1, Int((Double(width) * Double(longSide) / Double(height)).rounded())), longSide)
    }

    /// Resamples every row (all channels stacked: `channels * rows` rows of `table.inputCount` samples).
    static func resampleRows(_ src: [Float], rows: Int, channels: Int, _ table: ResampleTable) -> [Float] {
        let inWidth = table.inputCount, outWidth = table.outputCount, taps = table.taps
        let totalRows = rows * channels
        return [Float](unsafeUninitializedCapacity: totalRows * outWidth) { buffer, count in
            let dst = buffer.baseAddress!
            src.withUnsafeBufferPointer { srcBuffer in
                table.indices.withUnsafeBufferPointer { indexBuffer in
                    table.weights.withUnsafeBufferPointer { weightBuffer in
                        let source = srcBuffer.baseAddress!
                        let indices = indexBuffer.baseAddress!, weights = weightBuffer.baseAddress!
                        Parallel.forEachRange(count: totalRows, minimumChunk: 4) { range in
                            for row in range {
                                let input = source + row * inWidth
                                let output = dst + row * outWidth
                                for x in 0 ..< outWidth {
                                    let base = x * taps
                                    var sum: Float = 0
                                    for k in 0 ..< taps { sum += weights[base + k] * input[Int(indices[base + k])] }
                                    output[x] = sum
                                }
                            }
                        }
                    }
                }
            }
            count = totalRows * outWidth
        }
    }

    /// Resamples every column: output row `y` of each channel is a weighted sum of whole input rows.
    static func resampleColumns(_ src: [Float], width: Int, channels: Int, _ table: ResampleTable) -> [Float] {
        let inHeight = table.inputCount, outHeight = table.outputCount, taps = table.taps
        let totalRows = outHeight * channels
        return [Float](unsafeUninitializedCapacity: totalRows * width) { buffer, count in
            let dst = buffer.baseAddress!
            src.withUnsafeBufferPointer { srcBuffer in
                table.indices.withUnsafeBufferPointer { indexBuffer in
                    table.weights.withUnsafeBufferPointer { weightBuffer in
                        let source = srcBuffer.baseAddress!
                        let indices = indexBuffer.baseAddress!, weights = weightBuffer.baseAddress!
                        Parallel.forEachRange(count: totalRows, minimumChunk: 4) { range in
                            for outRow in range {
                                let channel = outRow / outHeight, y = outRow % outHeight
                                let plane = source + channel * inHeight * width
                                let output = dst + outRow * width
                                let base = y * taps
                                let w0 = weights[base]
                                let first = plane + Int(indices[base]) * width
                                for x in 0 ..< width { output[x] = w0 * first[x] }
                                for k in 1 ..< max(taps, 1) {
                                    let w = weights[base + k]
                                    if w == 0 { continue }
                                    let input = plane + Int(indices[base + k]) * width
                                    for x in 0 ..< width { output[x] += w * input[x] }
                                }
                            }
                        }
                    }
                }
            }
            count = totalRows * width
        }
    }
}
