import Dispatch
import Foundation

/// Splits index ranges across cores with `DispatchQueue.concurrentPerform`.
enum Parallel {
    /// Calls `body` concurrently with disjoint ranges that together cover `0..<count`. Ranges hold at least
    /// `minimumChunk` indices (except possibly the last); small counts run inline on the calling thread.
    static func forEachRange(count: Int, minimumChunk: Int = 8, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunks = max(1, min(count / max(1, minimumChunk), cores * 4))
        if chunks == 1 {
            body(0 ..< count)
            return
        }
        // concurrentPerform returns when every chunk has run, so `body` never outlives this call, and the ranges are
        // disjoint: what each chunk writes no other reads.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            if start < end { body(start ..< end) }
        }
    }
}
