import VGGWeights

/// VGG19 up to a chosen ReLU (at most relu5_1): 3x3 convolutions with ReLU, and 2x2 pooling after
/// relu1_2, relu2_2, relu3_4 and relu4_4. Inputs are Caffe-preprocessed (see `CaffeImage`).
public final class VGG19: Sendable {
    /// The ReLU outputs in network order; convolution i produces `layerNames[i]`.
    public static let layerNames = VGG19Layers.names
    /// Layers followed by a 2x2 pooling.
    public static let pooledLayers: Set<String> = ["relu1_2", "relu2_2", "relu3_4", "relu4_4"]

    /// How a convolution is computed.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// im2col + sgemm: the reference and the fallback.
        case im2col
        /// Winograd F(4x4, 3x3): a quarter of the multiplies in the sgemm stage.
        case winograd

        /// The default choice for a layer, from per-layer measurements (`stylefarm bench --layers`,
        /// Docs/performance.md): with its transforms vectorised (8 tiles per SIMD lane group), Winograd wins
        /// on every layer from 64 input channels up (relu1_2 1.4×, relu2_1 1.4×, blocks 3–5 1.6–2×); on the
        /// first layer (3 input channels) the transforms cost what the sgemm saves, and im2col stays.
        public static func preferred(inChannels: Int) -> Algorithm { inChannels >= 64 ? .winograd : .im2col }
    }

    /// One convolution's parameters in the layouts its algorithm needs, and no others: a Winograd layer holds
    /// only its Winograd-domain filters (4× the weights), not the weights as floats besides.
    public struct Conv: Sendable {
        public let name: String
        public let inChannels: Int
        public let outChannels: Int
        public let algorithm: Algorithm
        /// (K, C*9): OIHW flattened; im2col's sgemm A, transposed for the backward pass (im2col only).
        public let weights: [Float]
        /// (36, K, C): Winograd-domain filters G g Gᵀ (Winograd only).
        public let winogradFilters: [Float]
        /// (K)
        public let bias: [Float]
        /// The OIHW weights again, for `with(algorithm:)`: from the quantised file for the real network.
        let source: @Sendable () -> [Float]

        /// A layer from OIHW weights (K, C, 3, 3) flattened.
        public init(
            name: String, inChannels: Int, outChannels: Int, weights: [Float], bias: [Float],
            algorithm: Algorithm? = nil
        ) {
            self.init(name: name, inChannels: inChannels, outChannels: outChannels, bias: bias, algorithm: algorithm) {
                weights
            }
        }

        init(
            name: String, inChannels: Int, outChannels: Int, bias: [Float], algorithm: Algorithm?,
            source: @escaping @Sendable () -> [Float]
        ) {
            let weights = source()
            precondition(weights.count == outChannels * inChannels * 9 && bias.count == outChannels)
            self.name = name
            self.inChannels = inChannels
            self.outChannels = outChannels
            let algorithm = algorithm ?? .preferred(inChannels: inChannels)
            self.algorithm = algorithm
            self.weights = algorithm == .im2col ? weights : []
            self.winogradFilters =
                algorithm == .winograd
                ? WinogradConv3x3.transformFilters(weights, inChannels: inChannels, outChannels: outChannels) : []
            self.bias = bias
            self.source = source
        }

        /// The same layer computed another way.
        public func with(algorithm: Algorithm) -> Conv {
            Conv(
                name: name, inChannels: inChannels, outChannels: outChannels, bias: bias, algorithm: algorithm,
                source: source)
        }

        /// Bytes of parameters held.
        public var bytes: Int { 4 * (weights.count + winogradFilters.count + bias.count) }
    }

    public let convs: [Conv]
    public let pooling: Pool2x2.Kind

    /// A network from explicit layers (tests use small synthetic ones). Layer i must be named `layerNames[i]`.
    public init(convs: [Conv], pooling: Pool2x2.Kind = .max) {
        precondition(!convs.isEmpty && convs.count <= Self.layerNames.count)
        for (i, c) in convs.enumerated() {
            precondition(c.name == Self.layerNames[i], "layer \(i) must be \(Self.layerNames[i])")
            precondition(i == 0 || c.inChannels == convs[i - 1].outChannels, "channel mismatch at \(c.name)")
        }
        self.convs = convs
        self.pooling = pooling
    }

    /// The real VGG19 from its weights, up to relu5_1. `algorithm` forces one algorithm for every layer.
    public convenience init(weights: VGG19Weights, pooling: Pool2x2.Kind = .max, algorithm: Algorithm? = nil) {
        let convs = zip(Self.layerNames, weights.layers).map { name, w in
            Conv(
                name: name, inChannels: w.inChannels, outChannels: w.outChannels, bias: w.bias, algorithm: algorithm,
                source: { w.dequantised() })
        }
        self.init(convs: convs, pooling: pooling)
    }

    /// Index of a layer by name (`relu4_2`), or nil.
    public func index(of name: String) -> Int? {
        guard let i = Self.layerNames.firstIndex(of: name), i < convs.count else { return nil }
        return i
    }

    /// The same weights with every layer computed by `algorithm`.
    public func with(algorithm: Algorithm) -> VGG19 {
        VGG19(convs: convs.map { $0.with(algorithm: algorithm) }, pooling: pooling)
    }

    /// The same weights with a different pooling.
    public func with(pooling: Pool2x2.Kind) -> VGG19 { VGG19(convs: convs, pooling: pooling) }
}

extension VGG19 {
    /// Multiply-adds ×2 of the convolutions of one forward pass through `depth` layers on an (H, W) input.
    public func forwardFLOPs(height: Int, width: Int, depth: Int) -> Double {
        var h = height, w = width, total = 0.0
        for conv in convs.prefix(depth) {
            total += 2 * Double(conv.outChannels * conv.inChannels * 9) * Double(h * w)
            if Self.pooledLayers.contains(conv.name) { h /= 2; w /= 2 }
        }
        return total
    }
}
