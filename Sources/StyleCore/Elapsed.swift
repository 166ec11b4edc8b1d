extension ContinuousClock.Instant {
    /// Seconds from this instant to now, on the monotonic clock: what progress, ETAs and the farm's timers use.
    public var elapsedSeconds: Double {
        let d = duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
