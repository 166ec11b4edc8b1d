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
        precondition(width > 0 && height > 0, "target size \(width)x\(height) must be positive")
        precondition(image.width > 0 && image.height > 0, "cannot resize an empty image")
        if width == image.width && height == image.height { return image }
        let channels = image.channels
        let horizontal = width == image.width ? nil : ResampleTable(inputCount: image.width, outputCount: width)
        let vertical = height == image.height ? nil : ResampleTable(inputCount: image.height, outputCount: height)

        guard let horizontal else {
            return PlanarImage(width: width, height: height, channels: channels,
                               pixels: resampleColumns(image.pixels, width: width, channels: channels, vertical!))
        }
        guard let vertical else {
            return PlanarImage(width: width, height: height, channels: channels,
                               pixels: resampleRows(image.pixels, rows: image.height, channels: channels, horizontal))
        }
        // Row passes gather through an index table; column passes are contiguous vector work, so count them as
        // half the cost when choosing the order.
        let rowsFirst = 2 * image.height * width * horizontal.taps + height * width * vertical.taps
        let columnsFirst = height * image.width * vertical.taps + 2 * height * width * horizontal.taps
        if rowsFirst <= columnsFirst {
            let mid = resampleRows(image.pixels, rows: image.height, channels: channels, horizontal)
            return PlanarImage(width: width, height: height, channels: channels,
                               pixels: resampleColumns(mid, width: width, channels: channels, vertical))
        } else {
            let mid = resampleColumns(image.pixels, width: image.width, channels: channels, vertical)
            return PlanarImage(width: width, height: height, channels: channels,
                               pixels: resampleRows(mid, rows: height, channels: channels, horizontal))
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
                                for x in 0..<outWidth {
                                    let base = x * taps
                                    var sum: Float = 0
                                    for k in 0..<taps { sum += weights[base + k] * input[Int(indices[base + k])] }
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
                                for x in 0..<width { output[x] = w0 * first[x] }
                                for k in 1..<max(taps, 1) {
                                    let w = weights[base + k]
                                    if w == 0 { continue }
                                    let input = plane + Int(indices[base + k]) * width
                                    for x in 0..<width { output[x] += w * input[x] }
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
