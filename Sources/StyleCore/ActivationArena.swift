/// Every buffer one forward+backward pass of VGG19 needs, for one input size, planned once from the input
/// size and the layers the losses read; the optimisation loop allocates nothing.
///
/// The backward pass to the image needs far less than every activation:
/// - a ReLU's backward pass needs only where its output was positive: one bit per element (`mask`);
/// - a max pooling's backward pass needs only which of its 4 inputs won: one byte per output (`argmax`);
/// - a convolution's backward pass to its input needs only the weights (the network is not trained).
/// So only the *kept* layers (those the losses read) keep their ReLU outputs. Every other activation, and
/// every gradient of a layer that is not kept, lives in one of two transient buffers; a layer's output goes to
/// the transient its input is not in. The backward pass reuses the same buffers for the same tensors'
/// gradients: the gradient of a kept layer is written over its output (the objective turns each kept output
/// into its loss gradient between the passes) and the backward pass adds into it.
///
/// Float layout: the kept outputs in network order; transient 0; transient 1; the convolution scratch (im2col
/// columns or Winograd tiles); two (C_max, C_max) Gram scratches. Separately: the ReLU masks (UInt64 words,
/// per layer) and the max-pooling argmax bytes (per pooled layer).
///
/// At 512² through relu5_1 with the default loss layers this is 260 MiB, against 464 MiB for keeping
/// every activation and two full-size gradient buffers.
public final class ActivationArena {
    public struct Shape: Equatable, Sendable {
        public var channels: Int, height: Int, width: Int
        public var count: Int { channels * height * width }
        public var positions: Int { height * width }
    }

    /// Where a tensor (a ReLU output, or a pooled output, and later its gradient) lives.
    enum Slot: Equatable, Sendable {
        /// A kept layer's own region, at this float offset.
        case kept(Int)
        /// Transient buffer 0 or 1.
        case transient(Int)

        /// The transient to write a layer's output into when its input lives here.
        var otherTransient: Int { if case .transient(let t) = self { return 1 - t } else { return 0 } }
    }

    /// Where everything goes, computed from the input size alone (no allocation), so a plan can report a
    /// worker's memory before any compute.
    public struct Layout: Sendable {
        public var inputShapes: [Shape] = []
        public var outputShapes: [Shape] = []
        /// Layers whose ReLU outputs stay in the arena after the forward pass (the deepest layer always does).
        public var kept: Set<Int> = []
        var outputSlots: [Slot] = []
        /// The transient holding each layer's pooled output (nil: not pooled).
        var pooledTransients: [Int?] = []
        var transientOffsets = (0, 0)
        var scratchOffset = 0
        public var scratchFloats = 0
        var gramOffset = 0
        var gramFloats = 0
        public var totalFloats = 0
        var maskOffsets: [Int] = []
        var maskWords = 0
        var argmaxOffsets: [Int?] = []
        var argmaxBytes = 0
        /// Bytes of the whole arena: floats, masks and argmax.
        public var totalBytes: Int { 4 * totalFloats + 8 * maskWords + argmaxBytes }

        /// - kept: the layers the losses read; nil keeps every layer (tests that inspect all activations).
        public init(network: VGG19, height: Int, width: Int, depth: Int, kept: Set<Int>? = nil, maxColumnFloats: Int) {
            precondition(depth >= 1 && depth <= network.convs.count)
            let keep = (kept ?? Set(0 ..< depth)).filter { $0 < depth }.union([depth - 1])
            self.kept = keep
            var h = height, w = width, offset = 0, transients = [0, 0], scratch = 0
            var input: Slot? = nil  // the image
            for (i, conv) in network.convs.prefix(depth).enumerated() {
                let inShape = Shape(channels: conv.inChannels, height: h, width: w)
                let output = Shape(channels: conv.outChannels, height: h, width: w)
                inputShapes.append(inShape)
                outputShapes.append(output)
                let slot: Slot
                if keep.contains(i) {
                    slot = .kept(offset)
                    offset += output.count
                } else {
                    let t = input?.otherTransient ?? 0
                    transients[t] = max(transients[t], output.count)
                    slot = .transient(t)
                }
                outputSlots.append(slot)
                maskOffsets.append(maskWords)
                maskWords += (output.count + 63) / 64
                scratch = max(scratch, Self.scratchFloats(conv, height: h, width: w, maxColumnFloats: maxColumnFloats))
                if VGG19.pooledLayers.contains(conv.name) {
                    h /= 2
                    w /= 2
                    let t = slot.otherTransient, n = conv.outChannels * h * w
                    transients[t] = max(transients[t], n)
                    pooledTransients.append(t)
                    argmaxOffsets.append(network.pooling == .max ? argmaxBytes : nil)
                    if network.pooling == .max { argmaxBytes += n }
                    input = .transient(t)
                } else {
                    pooledTransients.append(nil)
                    argmaxOffsets.append(nil)
                    input = slot
                }
            }
            let maxC = network.convs.prefix(depth).map(\.outChannels).max() ?? 1
            transientOffsets = (offset, offset + transients[0])
            scratchOffset = offset + transients[0] + transients[1]
            scratchFloats = max(scratch, 2 * maxC)  // the loss-gradient conversion needs one position (two, guided)
            gramOffset = scratchOffset + scratchFloats
            gramFloats = maxC * maxC
            totalFloats = gramOffset + 2 * gramFloats
        }

        /// The scratch one convolution needs at (h, w): im2col's columns of the input (forward) or of the output
        /// gradient (backward); Winograd's transformed input and product tiles of one chunk.
        static func scratchFloats(_ conv: VGG19.Conv, height h: Int, width w: Int, maxColumnFloats: Int) -> Int {
            switch conv.algorithm {
            case .im2col:
                max(
                    Conv3x3.columnFloats(
                        inChannels: conv.inChannels, height: h, width: w, maxColumnFloats: maxColumnFloats),
                    Conv3x3.columnFloats(
                        inChannels: conv.outChannels, height: h, width: w, maxColumnFloats: maxColumnFloats))
            case .winograd:
                WinogradConv3x3.scratchFloats(
                    inChannels: conv.inChannels, outChannels: conv.outChannels, height: h, width: w,
                    maxFloats: maxColumnFloats)
            }
        }
    }

    public let layout: Layout
    public var inputShapes: [Shape] { layout.inputShapes }
    public var outputShapes: [Shape] { layout.outputShapes }
    public let maxColumnFloats: Int
    public var totalFloats: Int { layout.totalFloats }
    let base: UnsafeMutablePointer<Float>
    let masks: UnsafeMutablePointer<UInt64>
    let argmaxBase: UnsafeMutablePointer<UInt8>

    /// Plans and allocates the arena for `network` on a (3, height, width) input, through convolution
    /// `depth - 1`, keeping the outputs of `kept` (nil: every layer).
    public init(
        network: VGG19, height: Int, width: Int, depth: Int, kept: Set<Int>? = nil, maxColumnFloats: Int = 4 << 20
    ) {
        layout = Layout(
            network: network, height: height, width: width, depth: depth, kept: kept, maxColumnFloats: maxColumnFloats)
        self.maxColumnFloats = maxColumnFloats
        base = .allocate(capacity: layout.totalFloats)
        base.initialize(repeating: 0, count: layout.totalFloats)
        masks = .allocate(capacity: max(1, layout.maskWords))
        masks.initialize(repeating: 0, count: max(1, layout.maskWords))
        argmaxBase = .allocate(capacity: max(1, layout.argmaxBytes))
        argmaxBase.initialize(repeating: 0, count: max(1, layout.argmaxBytes))
    }

    deinit {
        base.deallocate()
        masks.deallocate()
        argmaxBase.deallocate()
    }

    /// Bytes held by the arena.
    public var bytes: Int { layout.totalBytes }
    /// Number of convolutions planned.
    public var depth: Int { outputShapes.count }
    /// Layers whose outputs `output(_:)` can read.
    public var kept: Set<Int> { layout.kept }

    /// ReLU output of kept convolution i, (K_i, H_i, W_i), after the forward pass. Before the backward pass the
    /// caller overwrites it with dLoss/d(that output); the backward pass adds what flows back from above.
    public func output(_ i: Int) -> UnsafeMutablePointer<Float> {
        guard case .kept = layout.outputSlots[i] else { preconditionFailure("layer \(i) is not kept by this arena") }
        return slot(i)
    }

    /// Where layer i's ReLU output (forward) and its gradient (backward) live.
    func slot(_ i: Int) -> UnsafeMutablePointer<Float> {
        switch layout.outputSlots[i] {
        case .kept(let offset): return base + offset
        case .transient(let t): return transient(t)
        }
    }

    func isKept(_ i: Int) -> Bool { if case .kept = layout.outputSlots[i] { return true } else { return false } }
    func transient(_ t: Int) -> UnsafeMutablePointer<Float> {
        base + (t == 0 ? layout.transientOffsets.0 : layout.transientOffsets.1)
    }
    /// Layer i's pooled output (forward) and its gradient (backward), if it is pooled.
    func pooled(_ i: Int) -> UnsafeMutablePointer<Float>? { layout.pooledTransients[i].map(transient) }
    func mask(_ i: Int) -> UnsafeMutablePointer<UInt64> { masks + layout.maskOffsets[i] }
    func argmax(_ i: Int) -> UnsafeMutablePointer<UInt8>? { layout.argmaxOffsets[i].map { argmaxBase + $0 } }
    var scratch: UnsafeMutablePointer<Float> { base + layout.scratchOffset }
    var gramScratch: UnsafeMutablePointer<Float> { base + layout.gramOffset }
    var dGramScratch: UnsafeMutablePointer<Float> { base + layout.gramOffset + layout.gramFloats }
}
