/// Colour operations for style transfer.
public enum ColorTransfer {
    /// "Preserve original colours" by luminance transfer: keeps the luma of `styled` and takes the chroma of
    /// `original`, in full-range BT.601 YCbCr (`Y = 0.299 R + 0.587 G + 0.114 B`, `Cb = (B - Y) / 1.772`,
    /// `Cr = (R - Y) / 1.402`).
    ///
    /// Both images must have 3 channels. If `original` differs in size it is first resized to `styled`'s size with
    /// `Resampler`. The result is not clamped (it may leave `0...1` slightly); writing clamps.
    public static func preserveColors(styled: PlanarImage, original: PlanarImage) -> PlanarImage {
        precondition(styled.channels == 3 && original.channels == 3, "preserveColors needs RGB images")
        let source = original.width == styled.width && original.height == styled.height
            ? original : Resampler.resize(original, width: styled.width, height: styled.height)
        let plane = styled.planeSize
        var out = styled
        styled.pixels.withUnsafeBufferPointer { styledBuffer in
            source.pixels.withUnsafeBufferPointer { sourceBuffer in
                out.pixels.withUnsafeMutableBufferPointer { outBuffer in
                    let s = styledBuffer.baseAddress!, o = sourceBuffer.baseAddress!, d = outBuffer.baseAddress!
                    Parallel.forEachRange(count: plane, minimumChunk: 4096) { range in
                        for i in range {
                            let luma = Self.luma(s[i], s[plane + i], s[2 * plane + i])
                            let (r0, g0, b0) = (o[i], o[plane + i], o[2 * plane + i])
                            let y0 = Self.luma(r0, g0, b0)
                            let cb = (b0 - y0) / 1.772, cr = (r0 - y0) / 1.402
                            let r = luma + 1.402 * cr, b = luma + 1.772 * cb
                            d[i] = r
                            d[plane + i] = (luma - 0.299 * r - 0.114 * b) / 0.587
                            d[2 * plane + i] = b
                        }
                    }
                }
            }
        }
        return out
    }

    /// BT.601 luma of an RGB triple.
    @inline(__always)
    static func luma(_ r: Float, _ g: Float, _ b: Float) -> Float {
        0.299 * r + 0.587 * g + 0.114 * b
    }
}

/// `ColorTransfer.preserveColors` of two same-size sources, computed per region (for canvases on disk).
public struct ColorPreserved: ImageRegionSource {
    public let styled: ImageRegionSource
    public let original: ImageRegionSource
    public var width: Int { styled.width }
    public var height: Int { styled.height }
    public var channels: Int { styled.channels }

    public init(styled: ImageRegionSource, original: ImageRegionSource) {
        precondition(styled.width == original.width && styled.height == original.height, "preserveColors per region needs equal sizes")
        (self.styled, self.original) = (styled, original)
    }

    public func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage {
        ColorTransfer.preserveColors(styled: try styled.region(x: x, y: y, width: width, height: height),
                                     original: try original.region(x: x, y: y, width: width, height: height))
    }
}
