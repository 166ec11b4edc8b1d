import CKernelShim
import Foundation

/// What the processor can run, read with CPUID, and what the operating system lets it run (XCR0): an AVX-512
/// kernel needs both.
public struct CPUFeatures: Sendable, Equatable, Codable {
    /// The instruction-set level a BLAS kernel needs, lowest first.
    public enum Level: Int, Sendable, Comparable, Codable, CustomStringConvertible {
        case sse3 = 1, avx, avx2, avx512, avx512bf16

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        public var description: String {
            switch self {
            case .sse3: "SSE3"
            case .avx: "AVX"
            case .avx2: "AVX2"
            case .avx512: "AVX-512"
            case .avx512bf16: "AVX-512 with BF16"
            }
        }
    }

    /// "GenuineIntel", "AuthenticAMD", ...
    public var vendor: String
    /// Display family and model (with their extended parts), stepping.
    public var family: Int, model: Int, stepping: Int
    /// The processor's brand string, e.g. "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz".
    public var brand: String
    /// The highest level both the processor and the operating system support; nil when it cannot be told.
    public var level: Level?

    public init(vendor: String, family: Int, model: Int, stepping: Int, brand: String, level: Level?) {
        self.vendor = vendor
        self.family = family
        self.model = model
        self.stepping = stepping
        self.brand = brand
        self.level = level
    }

    /// One line that names this processor model: the key of the kernel choice's cache.
    public var signature: String { "\(vendor) family \(family) model \(model) stepping \(stepping) (\(brand))" }

    public var isAMD: Bool { vendor == "AuthenticAMD" || vendor == "HygonGenuine" }

    /// This machine's processor.
    public static func current() -> CPUFeatures {
        var r = [UInt32](repeating: 0, count: 4)
        guard kernelshim_cpuid(0, 0, &r) == 1 else {
            return CPUFeatures(vendor: "unknown", family: 0, model: 0, stepping: 0, brand: "not x86-64", level: nil)
        }
        let maxLeaf = r[0]
        let vendor = ascii([r[1], r[3], r[2]])
        var leaf1 = [UInt32](repeating: 0, count: 4), leaf7 = leaf1, leaf7s1 = leaf1
        _ = kernelshim_cpuid(1, 0, &leaf1)
        if maxLeaf >= 7 {
            _ = kernelshim_cpuid(7, 0, &leaf7)
            _ = kernelshim_cpuid(7, 1, &leaf7s1)
        }
        let eax = Int(leaf1[0])
        let baseFamily = (eax >> 8) & 0xF, baseModel = (eax >> 4) & 0xF
        let family = baseFamily == 0xF ? baseFamily + ((eax >> 20) & 0xFF) : baseFamily
        let model = baseFamily == 0x6 || baseFamily == 0xF ? baseModel | (((eax >> 16) & 0xF) << 4) : baseModel
        var brandWords: [UInt32] = []
        for leaf: UInt32 in 0x8000_0002 ... 0x8000_0004 {
            var b = [UInt32](repeating: 0, count: 4)
            if kernelshim_cpuid(leaf, 0, &b) == 1 { brandWords += b }
        }
        let brand = ascii(brandWords).trimmingCharacters(in: .whitespaces)
        let bit = { (word: UInt32, n: UInt32) in word & (1 << n) != 0 }
        let xcr0 = kernelshim_xcr0()
        let osAVX = xcr0 & 0x6 == 0x6, osAVX512 = xcr0 & 0xE6 == 0xE6
        var level: Level? = bit(leaf1[2], 0) ? .sse3 : nil
        if osAVX, bit(leaf1[2], 28) { level = .avx }
        if level == .avx, bit(leaf7[1], 5), bit(leaf1[2], 12) { level = .avx2 }  // AVX2 and FMA
        // SkylakeX's kernels use AVX512F, DQ, CD, BW and VL.
        if level == .avx2, osAVX512, [16, 17, 28, 30, 31].allSatisfy({ bit(leaf7[1], $0) }) { level = .avx512 }
        if level == .avx512, bit(leaf7s1[0], 5) { level = .avx512bf16 }
        return CPUFeatures(
            vendor: vendor, family: family, model: model, stepping: Int(eax & 0xF), brand: brand, level: level)
    }

    private static func ascii(_ words: [UInt32]) -> String {
        var bytes: [UInt8] = []
        for word in words {
            for shift: UInt32 in [0, 8, 16, 24] where (word >> shift) & 0xFF != 0 {
                bytes.append(UInt8((word >> shift) & 0xFF))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
