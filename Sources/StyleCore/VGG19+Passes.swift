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
    /// Forward pass of x (3, H, W) through `arena.depth` convolutions. The kept layers' ReLU outputs stay in the
    /// arena (`arena.output(i)`) for the losses; every layer leaves its ReLU mask (and max-pooling argmax) for
    /// the backward pass.
    public func forward(_ x: UnsafePointer<Float>, arena: ActivationArena, profile: LayerProfile? = nil) {
        var input = x
        for i in 0 ..< arena.depth {
            let start = profile == nil ? 0 : LayerProfile.now()
            defer { if let profile { profile.forward[i] += Double(LayerProfile.now() - start) * 1e-9 } }
            let conv = convs[i], s = arena.outputShapes[i], out = arena.slot(i)
            conv.bias.withUnsafeBufferPointer { b in
                switch conv.algorithm {
                case .im2col:
                    conv.weights.withUnsafeBufferPointer { w in
                        Conv3x3.forward(
                            out: out, input: input, weights: w.baseAddress!, bias: b.baseAddress!,
                            inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                            width: s.width, columns: arena.scratch, maxColumnFloats: arena.maxColumnFloats)
                    }
                case .winograd:
                    conv.winogradFilters.withUnsafeBufferPointer { u in
                        WinogradConv3x3.forward(
                            out: out, input: input, filters: u.baseAddress!, bias: b.baseAddress!,
                            inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                            width: s.width, scratch: arena.scratch, maxFloats: arena.maxColumnFloats)
                    }
                }
            }
            ReLU.forward(out, mask: arena.mask(i), count: s.count)
            if let pooled = arena.pooled(i) {
                Pool2x2.forward(
                    pooling, out: pooled, input: out, argmax: arena.argmax(i), channels: s.channels,
                    height: s.height, width: s.width)
                input = UnsafePointer(pooled)
            } else {
                input = UnsafePointer(out)
            }
        }
    }

    /// Backward pass to the input, after `forward` on the same arena, once the caller has overwritten every kept
    /// layer's output with dLoss/d(that ReLU output) (zero where no loss reads it).
    ///
    /// Walks from the deepest ReLU down: ReLU (mask), convolution (to its input), pooling (argmax). A gradient
    /// that reaches a kept layer is added to that layer's loss gradient in place; any other is written into the
    /// transient its forward activation used. dInput (3, H, W) is overwritten.
    public func backward(arena: ActivationArena, dInput: UnsafeMutablePointer<Float>, profile: LayerProfile? = nil) {
        for i in stride(from: arena.depth - 1, through: 0, by: -1) {
            let start = profile == nil ? 0 : LayerProfile.now()
            defer { if let profile { profile.backward[i] += Double(LayerProfile.now() - start) * 1e-9 } }
            let conv = convs[i], s = arena.outputShapes[i], grad = arena.slot(i)
            ReLU.backward(grad, mask: arena.mask(i), count: s.count)
            // d(input of conv i): the image, layer i-1's pooled output, or layer i-1's ReLU output.
            let pooled = i > 0 ? arena.pooled(i - 1) : nil
            let target = i == 0 ? dInput : pooled ?? arena.slot(i - 1)
            let accumulate = i > 0 && pooled == nil && arena.isKept(i - 1)
            switch conv.algorithm {
            case .im2col:
                conv.weights.withUnsafeBufferPointer { w in
                    Conv3x3.backward(
                        dInput: target, dOut: grad, weights: w.baseAddress!,
                        inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                        width: s.width, columns: arena.scratch, maxColumnFloats: arena.maxColumnFloats,
                        accumulate: accumulate)
                }
            case .winograd:
                conv.winogradFilters.withUnsafeBufferPointer { u in
                    WinogradConv3x3.backward(
                        dInput: target, dOut: grad, filters: u.baseAddress!,
                        inChannels: conv.inChannels, outChannels: conv.outChannels, height: s.height,
                        width: s.width, scratch: arena.scratch, maxFloats: arena.maxColumnFloats,
                        accumulate: accumulate)
                }
            }
            if let pooled {
                let p = arena.outputShapes[i - 1]
                Pool2x2.backward(
                    self.pooling, dInput: arena.slot(i - 1), dOut: pooled, argmax: arena.argmax(i - 1),
                    channels: p.channels, height: p.height, width: p.width, accumulate: arena.isKept(i - 1))
            }
        }
    }
}
