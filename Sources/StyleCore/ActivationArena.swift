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

    /// Where everything goes, computed from the input size alone (no allocation), so a plan can report a
    /// worker's memory before any compute.
    public struct Layout: Sendable {
        public var inputShapes: [Shape] = []
        public var outputShapes: [Shape] = []
        var outputOffsets: [Int] = []
        var pooledOffsets: [Int?] = []
        var gradientOffsets = (0, 0)
        var columnsOffset = 0
        var gramOffset = 0
        public var totalFloats = 0

        public init(network: VGG19, height: Int, width: Int, depth: Int, maxColumnFloats: Int) {
            precondition(depth >= 1 && depth <= network.convs.count)
            var h = height, w = width, offset = 0, largest = 3 * height * width, columns = 0
            for conv in network.convs.prefix(depth) {
                let input = Shape(channels: conv.inChannels, height: h, width: w)
                let output = Shape(channels: conv.outChannels, height: h, width: w)
                inputShapes.append(input)
                outputShapes.append(output)
                outputOffsets.append(offset)
                offset += output.count
                largest = max(largest, output.count, input.count)
                // im2col: columns of the input (forward) or of the output gradient (backward);
                // Winograd: transformed input and product tiles of one chunk.
                switch conv.algorithm {
                case .im2col:
                    columns = max(columns,
                                  Conv3x3.columnFloats(inChannels: conv.inChannels, height: h, width: w, maxColumnFloats: maxColumnFloats),
                                  Conv3x3.columnFloats(inChannels: conv.outChannels, height: h, width: w, maxColumnFloats: maxColumnFloats))
                case .winograd:
                    columns = max(columns, WinogradConv3x3.scratchFloats(inChannels: conv.inChannels, outChannels: conv.outChannels,
                                                                         height: h, width: w, maxFloats: maxColumnFloats))
                }
                if VGG19.pooledLayers.contains(conv.name) {
                    pooledOffsets.append(offset)
                    h /= 2
                    w /= 2
                    offset += conv.outChannels * h * w
                } else {
                    pooledOffsets.append(nil)
                }
            }
            let maxC = network.convs.prefix(depth).map(\.outChannels).max() ?? 1
            gradientOffsets = (offset, offset + largest)
            columnsOffset = offset + 2 * largest
            gramOffset = columnsOffset + columns
            totalFloats = gramOffset + maxC * maxC
        }
    }

    public let layout: Layout
    public var inputShapes: [Shape] { layout.inputShapes }
    public var outputShapes: [Shape] { layout.outputShapes }
    public let maxColumnFloats: Int
    public var totalFloats: Int { layout.totalFloats }
    let base: UnsafeMutablePointer<Float>

    /// Plans and allocates the arena for `network` on a (3, height, width) input, through convolution `depth - 1`.
    public init(network: VGG19, height: Int, width: Int, depth: Int, maxColumnFloats: Int = 4 << 20) {
        layout = Layout(network: network, height: height, width: width, depth: depth, maxColumnFloats: maxColumnFloats)
        self.maxColumnFloats = maxColumnFloats
        base = .allocate(capacity: layout.totalFloats)
        base.initialize(repeating: 0, count: layout.totalFloats)
    }

    deinit { base.deallocate() }

    /// Bytes held by the arena.
    public var bytes: Int { totalFloats * MemoryLayout<Float>.size }
    /// Number of convolutions planned.
    public var depth: Int { outputShapes.count }

    /// ReLU output of convolution i, (K_i, H_i, W_i).
    public func output(_ i: Int) -> UnsafeMutablePointer<Float> { base + layout.outputOffsets[i] }
    /// Pooled output after convolution i, if it is pooled.
    public func pooled(_ i: Int) -> UnsafeMutablePointer<Float>? { layout.pooledOffsets[i].map { base + $0 } }
    var gradientA: UnsafeMutablePointer<Float> { base + layout.gradientOffsets.0 }
    var gradientB: UnsafeMutablePointer<Float> { base + layout.gradientOffsets.1 }
    var columns: UnsafeMutablePointer<Float> { base + layout.columnsOffset }
    var gramScratch: UnsafeMutablePointer<Float> { base + layout.gramOffset }
}
