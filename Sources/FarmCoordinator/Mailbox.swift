import Synchronization

/// What other threads hand the coordinator's loop thread (`Coordinator.Completion`): kept in arrival order under a
/// `Mutex` until the loop takes them all (`take`). Once the loop has ended (`close`) nothing more is accepted: `post`
/// says so, and its caller deals with the item itself.
final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var closed = false
    }

    private let state = Mutex(State())

    /// Adds `item` for the loop; false (and not added) once the mailbox is closed.
    @discardableResult
    func post(_ item: Item) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.items.append(item)
            return true
        }
    }

    /// Every item posted since the last take, oldest first.
    func take() -> [Item] {
        state.withLock { s in
            defer { s.items = [] }
            return s.items
        }
    }

    /// The loop has ended: later posts are refused.
    func close() {
        state.withLock { $0.closed = true }
    }
}

/// Resumes a continuation at most once.
final class Once<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    init(_ c: CheckedContinuation<T, Never>) { continuation = Mutex(c) }

    func resume(_ value: T) {
        let c = continuation.withLock { c in
            defer { c = nil }
            return c
        }
        c?.resume(returning: value)
    }
}
