/// OpenBLAS's x86-64 kernels (the core names of a DYNAMIC_ARCH build, as `OPENBLAS_CORETYPE` takes them and
/// `openblas_get_corename()` reports them) and the instruction-set level each needs.
public enum KernelCatalog {
    /// Core name → level. Names not listed are treated as the lowest level.
    public static let levels: [String: CPUFeatures.Level] = [
        "Prescott": .sse3, "Core2": .sse3, "Penryn": .sse3, "Dunnington": .sse3, "Nehalem": .sse3, "Atom": .sse3,
        "Opteron": .sse3, "Barcelona": .sse3, "Bobcat": .sse3,
        "Sandybridge": .avx, "Bulldozer": .avx, "Piledriver": .avx, "Steamroller": .avx, "Excavator": .avx,
        "Haswell": .avx2, "Zen": .avx2,
        "SkylakeX": .avx512, "Cooperlake": .avx512bf16, "SapphireRapids": .avx512bf16
    ]

    /// The level a kernel needs (the lowest for a name this table does not know).
    public static func level(of core: String) -> CPUFeatures.Level {
        levels.first { $0.key.lowercased() == core.lowercased() }?.value ?? .sse3
    }

    /// The kernels worth trying on `cpu`, best first: those of its own level, then one level down. OpenBLAS 0.3.21
    /// has no SapphireRapids sgemm of its own (it falls back to Haswell), so it is not offered.
    public static func candidates(for cpu: CPUFeatures) -> [String] {
        switch cpu.level {
        case .avx512bf16: ["Cooperlake", "SkylakeX", "Haswell"]
        case .avx512: ["SkylakeX", "Haswell"]
        case .avx2: cpu.isAMD ? ["Zen", "Haswell"] : ["Haswell"]
        case .avx: ["Sandybridge"]
        case .sse3, nil: []
        }
    }

    /// Whether OpenBLAS's own pick is weaker than the best kernel `cpu` could run.
    public static func isWeaker(_ picked: String, than cpu: CPUFeatures) -> Bool {
        guard let best = candidates(for: cpu).first else { return false }
        return level(of: picked) < level(of: best)
    }
}
