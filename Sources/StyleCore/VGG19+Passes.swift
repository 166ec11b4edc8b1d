import Dispatch

/// Seconds spent per convolution layer (convolution, ReLU and pooling), accumulated over passes.
public final class LayerProfile {
    public var forward: [Double]
    public var backward: [Double]
    public init(layers: Int) {
        forward = [Double](repeating: 0, count: layers)
        backward = forward
    }

    @inline(__always)
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

extension VGG19 {
    /// Forward pass of x (3, H, W) through `arena.depth` convolutions; every ReLU (and pooled) output stays
    /// in the arena for the backward pass and the losses.
    public func forward(_ x: UnsafePointer<Float>, arena: ActivationArena, profile: LayerProfile? = nil) {
        var input = x
        for i in 0 ..< arena.depth {
            let start = profile == nil ? 0 : LayerProfile.now()
            defer { if let profile { profile.forward[i] += Double(LayerProfile.now() - start) * 1e-9 } }
            let conv = convs[i], s = arena.outputShapes[i], out = arena.output(i)
            conv.bias.withUnsafeBufferPointer { b in
                switch conv.algorithm {
                case .im2col:
                    conv.weights.withUnsafeBufferPointer { w in
                        Conv3x3.forward(out: out, input: input, weights: w.baseAddress!, bias: b.baseAddress!,
                                        inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                                        width: s.width, columns: arena.columns, maxColumnFloats: arena.maxColumnFloats)
                    }
                case .winograd:
                    conv.winogradFilters.withUnsafeBufferPointer { u in
                        WinogradConv3x3.forward(out: out, input: input, filters: u.baseAddress!, bias: b.baseAddress!,
                                                inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                                                width: s.width, scratch: arena.columns, maxFloats: arena.maxColumnFloats)
                    }
                }
            }
            ReLU.forward(out, count: s.count)
            if let pooled = arena.pooled(i) {
                Pool2x2.forward(pooling, out: pooled, input: out, channels: s.channels, height: s.height, width: s.width)
                input = UnsafePointer(pooled)
            } else {
                input = UnsafePointer(out)
            }
        }
    }

    /// Backward pass to the input, after `forward` on the same arena.
    ///
    /// Walks from the deepest ReLU down. At each ReLU output i it calls `addLossGradient(i, grad)` so the
    /// losses on that layer add their gradient (with respect to the ReLU output, shape (K_i, H_i, W_i)) into
    /// `grad`, which already holds what flowed back from above (zero at the deepest layer).
    /// dInput (3, H, W) is overwritten.
    public func backward(arena: ActivationArena, dInput: UnsafeMutablePointer<Float>, profile: LayerProfile? = nil,
                         addLossGradient: (Int, UnsafeMutablePointer<Float>) -> Void) {
        var grad = arena.gradientA, spare = arena.gradientB
        grad.update(repeating: 0, count: arena.outputShapes[arena.depth - 1].count)
        for i in stride(from: arena.depth - 1, through: 0, by: -1) {
            let conv = convs[i], s = arena.outputShapes[i]
            addLossGradient(i, grad)
            let start = profile == nil ? 0 : LayerProfile.now()
            defer { if let profile { profile.backward[i] += Double(LayerProfile.now() - start) * 1e-9 } }
            ReLU.backward(grad, output: arena.output(i), count: s.count)
            let target = i == 0 ? dInput : spare
            switch conv.algorithm {
            case .im2col:
                conv.backwardWeights.withUnsafeBufferPointer { w in
                    Conv3x3.backward(dInput: target, dOut: grad, backwardWeights: w.baseAddress!,
                                     inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                                     width: s.width, columns: arena.columns, maxColumnFloats: arena.maxColumnFloats)
                }
            case .winograd:
                conv.winogradFilters.withUnsafeBufferPointer { u in
                    WinogradConv3x3.backward(dInput: target, dOut: grad, filters: u.baseAddress!,
                                             inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                                             width: s.width, scratch: arena.columns, maxFloats: arena.maxColumnFloats)
                }
            }
            guard i > 0 else { break }
            if let pooled = arena.pooled(i - 1) {
                // target holds d(pooled output of i-1); route it back to d(ReLU output of i-1) in grad.
                let p = arena.outputShapes[i - 1]
                Pool2x2.backward(pooling, dInput: grad, dOut: target, input: arena.output(i - 1), output: pooled,
                                 channels: p.channels, height: p.height, width: p.width)
            } else {
                swap(&grad, &spare)
            }
        }
    }
}
