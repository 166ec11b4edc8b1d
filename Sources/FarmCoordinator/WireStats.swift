import FarmProtocol
import Foundation

/// What went over the wire, for `stylefarm bench-farm`.
public struct WireStats: Sendable {
    /// Tile messages (assign, progress, result) sent and received.
    public var tileMessages = 0
    public var assigns = 0
    public var results = 0
    /// Frame bytes of assign and result messages (header, body, payload).
    public var assignBytes = 0
    public var resultBytes = 0
    /// Bytes of the finished tiles' cores as 16-bit RGB: the "raw tile".
    public var rawTileBytes = 0
}

extension Coordinator {
    /// The counts so far (any thread).
    public var stats: WireStats {
        wireStats.withLock { $0 }
    }

    func count(_ update: (inout WireStats) -> Void) {
        wireStats.withLock { update(&$0) }
    }

    func count(received m: Message) {
        switch m.command {
        case .progress: count { $0.tileMessages += 1 }
        case .result:
            count { s in
                s.tileMessages += 1
                s.results += 1
                s.resultBytes += m.frames.reduce(0) { $0 + $1.count }
            }
        default: break
        }
    }
}
