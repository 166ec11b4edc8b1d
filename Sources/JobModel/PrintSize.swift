import FarmProtocol
import Foundation
import TOMLKit

/// A physical print size, from a preset name (Configs/print-presets.toml) or `WxH` with a unit
/// (`24x36in`, `30x40cm`, `210x297mm`), converted to pixels at a DPI.
public struct PrintSize: Equatable, Sendable {
    public var widthInches: Double
    public var heightInches: Double

    /// Pixels at `dpi`, rounded.
    public func pixels(dpi: Double) -> (width: Int, height: Int) {
        (Int(saturating: (widthInches * dpi).rounded()), Int(saturating: (heightInches * dpi).rounded()))
    }

    static func number(_ v: TOMLValueConvertible?) -> Double? { v?.double ?? v?.int.map(Double.init) }

    static func inches(_ value: Double, unit: String) -> Double? {
        switch unit.lowercased() {
        case "in": return value
        case "cm": return value / 2.54
        case "mm": return value / 25.4
        default: return nil
        }
    }

    /// The presets file: `$STYLEFARM_CONFIGS/print-presets.toml`, else `Configs/print-presets.toml` in the checkout the
    /// executable was built in (any ancestor of it), else `/usr/share/stylefarm/` (where the Debian package
    /// installs it), else `Configs/` under the working directory.
    public static func presetsURL() -> URL {
        let name = "print-presets.toml"
        if let dir = ProcessInfo.processInfo.environment["STYLEFARM_CONFIGS"] {
            return URL(fileURLWithPath: dir).appendingPathComponent(name)
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("Configs/\(name)")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let packaged = URL(fileURLWithPath: "/usr/share/stylefarm").appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: packaged.path) { return packaged }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Configs/\(name)")
    }

    public static func parse(_ text: String, presets url: URL = presetsURL()) throws -> PrintSize {
        var name = text
        let landscape = name.lowercased().hasSuffix("-landscape")
        if landscape { name = String(name.dropLast("-landscape".count)) }
        var size: PrintSize?
        let pattern = #/^([0-9]+(?:\.[0-9]+)?)x([0-9]+(?:\.[0-9]+)?)(in|cm|mm)$/#
        if let m = name.lowercased().wholeMatch(of: pattern), let w = Double(m.1), let h = Double(m.2) {
            size = PrintSize(widthInches: inches(w, unit: String(m.3))!, heightInches: inches(h, unit: String(m.3))!)
        } else if let text = try? String(contentsOf: url, encoding: .utf8) {
            let presets = try TOMLTable(string: text)
            if let p = presets.first(where: { $0.0.lowercased() == name.lowercased() })?.1.table,
                let w = number(p["width"]), let h = number(p["height"]),
                let w = inches(w, unit: p["unit"]?.string ?? ""), let h = inches(h, unit: p["unit"]?.string ?? "")
            {
                size = PrintSize(widthInches: w, heightInches: h)
            }
        }
        guard var s = size, s.widthInches > 0, s.heightInches > 0 else {
            throw JobProblem(
                field: "size.print",
                message: "unknown print size '\(text)': use WxHin, WxHcm, WxHmm or a preset from \(url.path)")
        }
        if landscape { swap(&s.widthInches, &s.heightInches) }
        return s
    }
}
