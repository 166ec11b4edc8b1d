// The one way a number from outside (a peer's message, a file, an HTTP request) becomes an integer
// (Docs/security.md, "Numbers from outside"). Swift's `Int(someDouble)` traps on NaN, on infinities and on
// anything past ±2^63: one `"speed": 1e300` in a worker's `ready` once killed the coordinator that way. Outside
// data goes through these instead; `OutsideNumbersScanTests` fails when a farm source converts to an integer any
// other way without saying why that value cannot trap.

extension Int {
    /// `value` rounded toward zero and clamped to `Int.min ... Int.max`; NaN is 0. Never traps: for log lines,
    /// progress bars and other places where a wrong number is harmless and a dead process is not.
    public init(saturating value: Double) {
        // 2^63 is exactly representable; every finite double below it and above -2^63 converts without trapping.
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_808.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int(value)  // safe-int: finite and strictly inside Int's range (checked above)
        }
    }

    /// `value` rounded toward zero when that lies in `range`; nil for NaN, infinities and anything outside it: for
    /// numbers that decide something, where a wrong one must be refused.
    public init?(refusing value: Double, in range: ClosedRange<Int>) {
        let whole = Int(saturating: value)
        guard value.isFinite, range.contains(whole) else { return nil }
        self = whole
    }
}

extension Double {
    /// Whether this is a finite number inside `range` (NaN and infinities never are).
    public func isFinite(in range: ClosedRange<Double>) -> Bool {
        isFinite && range.contains(self)
    }
}
