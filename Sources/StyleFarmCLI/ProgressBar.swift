import FarmProtocol
import Foundation

/// A one-line terminal progress bar on standard error: redrawn in place on a terminal, printed as
/// occasional plain lines otherwise (logs, CI).
final class ProgressBar {
    let total: Int
    let label: String
    let isTerminal = isatty(STDERR_FILENO) != 0
    var lastPrinted = -10
    let width = 30

    init(total: Int, label: String) {
        self.total = max(1, total)
        self.label = label
    }

    /// Draws `done` of `total`, with a free-form status and an ETA from the elapsed seconds. `work`, when
    /// given, is the fraction of the work done (if steps differ in cost) and drives the bar and the ETA.
    func update(_ done: Int, status: String, elapsed: Double, work: Double? = nil) {
        let fraction = max(0, min(1, work ?? Double(done) / Double(max(1, total))))
        let percent = Int(saturating: fraction * 100)
        // Off a terminal, print every 10% only.
        if !isTerminal && done != total && percent / 10 == lastPrinted / 10 { return }
        lastPrinted = percent
        let filled = Int(saturating: fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let eta = fraction > 0 ? elapsed / fraction * (1 - fraction) : 0
        let line = "\(label) \(bar) \(done)/\(total) \(status) elapsed \(Self.format(elapsed)) eta \(Self.format(eta))"
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }

    /// Ends the line.
    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func format(_ seconds: Double) -> String {
        // NaN, negative or past 11 years: shown clamped
        let s = max(0, min(Int(saturating: seconds.rounded()), 359_999_999))
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
