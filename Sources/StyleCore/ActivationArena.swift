/// Every buffer one forward+backward pass of VGG19 needs, for one input size, in a single allocation.
/// Sized once from the input; the optimisation loop allocates nothing.
///
/// Layout (floats): for each convolution i up to `depth`: its ReLU output (K_i, H_i, W_i), then, if it is
/// followed by pooling, the pooled output (K_i, H_i/2, W_i/2); two gradient buffers of the largest
/// activation size; the im2col column scratch; and a Gram scratch of (C_max, C_max).
public final class ActivationArena {
    public struct Shape: Equatable, Sendable {
        public var channels: Int, height: Int, width: Int
        public var count: Int { channels * height * width }
        public var positions: Int { height * width }
    }

    /// Input shape of each convolution, and its output shape.
    public let inputShapes: [Shape]
    public let outputShapes: [Shape]
    let outputOffsets: [Int]
    let pooledOffsets: [Int?]
    let gradientOffsets: (Int, Int)
    let columnsOffset: Int
    let gramOffset: Int
    public let maxColumnFloats: Int
    public let totalFloats: Int
    let base: UnsafeMutablePointer<Float>

    /// Plans the arena for `network` on a (3, height, width) input, through convolution `depth - 1`.
    public init(network: VGG19, height: Int, width: Int, depth: Int, maxColumnFloats: Int = 4 << 20) {
        precondition(depth >= 1 && depth <= network.convs.count)
        var inputs: [Shape] = [], outputs: [Shape] = [], outOff: [Int] = [], poolOff: [Int?] = []
        var h = height, w = width, offset = 0, largest = 3 * height * width, columns = 0
        for conv in network.convs.prefix(depth) {
            let input = Shape(channels: conv.inChannels, height: h, width: w)
            let output = Shape(channels: conv.outChannels, height: h, width: w)
            inputs.append(input)
            outputs.append(output)
            outOff.append(offset)
            offset += output.count
            largest = max(largest, output.count, input.count)
            // Forward: im2col of the input; backward: im2col of the output gradient.
            columns = max(columns,
                          Conv3x3.columnFloats(inChannels: conv.inChannels, height: h, width: w, maxColumnFloats: maxColumnFloats),
                          Conv3x3.columnFloats(inChannels: conv.outChannels, height: h, width: w, maxColumnFloats: maxColumnFloats))
            if VGG19.pooledLayers.contains(conv.name) {
                poolOff.append(offset)
                h /= 2
                w /= 2
                offset += conv.outChannels * h * w
            } else {
                poolOff.append(nil)
            }
        }
        let maxC = network.convs.prefix(depth).map(\.outChannels).max() ?? 1
        gradientOffsets = (offset, offset + largest)
        columnsOffset = offset + 2 * largest
        gramOffset = columnsOffset + columns
        totalFloats = gramOffset + maxC * maxC
        inputShapes = inputs
        outputShapes = outputs
        outputOffsets = outOff
        pooledOffsets = poolOff
        self.maxColumnFloats = maxColumnFloats
        base = .allocate(capacity: totalFloats)
        base.initialize(repeating: 0, count: totalFloats)
    }

    deinit { base.deallocate() }

    /// Bytes held by the arena.
    public var bytes: Int { totalFloats * MemoryLayout<Float>.size }
    /// Number of convolutions planned.
    public var depth: Int { outputShapes.count }

    /// ReLU output of convolution i, (K_i, H_i, W_i).
    public func output(_ i: Int) -> UnsafeMutablePointer<Float> { base + outputOffsets[i] }
    /// Pooled output after convolution i, if it is pooled.
    public func pooled(_ i: Int) -> UnsafeMutablePointer<Float>? { pooledOffsets[i].map { base + $0 } }
    var gradientA: UnsafeMutablePointer<Float> { base + gradientOffsets.0 }
    var gradientB: UnsafeMutablePointer<Float> { base + gradientOffsets.1 }
    var columns: UnsafeMutablePointer<Float> { base + columnsOffset }
    var gramScratch: UnsafeMutablePointer<Float> { base + gramOffset }
}
