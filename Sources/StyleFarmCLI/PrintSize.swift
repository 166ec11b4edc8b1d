import Foundation

/// A physical print size, from a preset name (Configs/print-presets.json) or `WxH` with a unit
/// (`24x36in`, `30x40cm`, `210x297mm`), converted to pixels at a DPI.
struct PrintSize: Equatable {
    var widthInches: Double
    var heightInches: Double

    /// Pixels at `dpi`, rounded.
    func pixels(dpi: Double) -> (width: Int, height: Int) {
        (Int((widthInches * dpi).rounded()), Int((heightInches * dpi).rounded()))
    }

    struct Preset: Decodable { var width: Double; var height: Double; var unit: String }
    struct PresetFile: Decodable { var presets: [String: Preset] }

    static func inches(_ value: Double, unit: String) -> Double? {
        switch unit.lowercased() {
        case "in": return value
        case "cm": return value / 2.54
        case "mm": return value / 25.4
        default: return nil
        }
    }

    /// The presets file: next to the executable's repository checkout, or `STYLEFARM_CONFIGS`.
    static func presetsURL() -> URL {
        if let dir = ProcessInfo.processInfo.environment["STYLEFARM_CONFIGS"] {
            return URL(fileURLWithPath: dir).appendingPathComponent("print-presets.json")
        }
        // .build/release/stylefarm → repository root.
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let repo = exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidate = repo.appendingPathComponent("Configs/print-presets.json")
        if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Configs/print-presets.json")
    }

    static func parse(_ text: String, presets url: URL = presetsURL()) throws -> PrintSize {
        var name = text
        let landscape = name.lowercased().hasSuffix("-landscape")
        if landscape { name = String(name.dropLast("-landscape".count)) }
        var size: PrintSize?
        let pattern = #/^([0-9]+(?:\.[0-9]+)?)x([0-9]+(?:\.[0-9]+)?)(in|cm|mm)$/#
        if let m = name.lowercased().wholeMatch(of: pattern), let w = Double(m.1), let h = Double(m.2) {
            size = PrintSize(widthInches: inches(w, unit: String(m.3))!, heightInches: inches(h, unit: String(m.3))!)
        } else if let data = FileManager.default.contents(atPath: url.path) {
            let file = try JSONDecoder().decode(PresetFile.self, from: data)
            if let p = file.presets.first(where: { $0.key.lowercased() == name.lowercased() })?.value,
               let w = inches(p.width, unit: p.unit), let h = inches(p.height, unit: p.unit) {
                size = PrintSize(widthInches: w, heightInches: h)
            }
        }
        guard var s = size, s.widthInches > 0, s.heightInches > 0 else {
            throw PrintSizeError.unknown(text, presets: url.path)
        }
        if landscape { swap(&s.widthInches, &s.heightInches) }
        return s
    }
}

enum PrintSizeError: Error, CustomStringConvertible {
    case unknown(String, presets: String)
    var description: String {
        switch self {
        case let .unknown(t, p): return "unknown print size '\(t)': use WxHin, WxHcm, WxHmm or a preset from \(p)"
        }
    }
}
