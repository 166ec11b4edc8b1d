import Foundation
import Synchronization

/// Reads one socket on a thread of its own, handing each message and the socket (to answer on) to `handle` on that
/// thread, until `stop`; then closes the socket. The ZAP handler and the handshake monitor are two of these.
// unchecked: `socket` (a libzmq handle) is used by the reader thread alone
final class SocketReader: @unchecked Sendable {
    let socket: ZMQSocket
    let handle: @Sendable ([[UInt8]], ZMQSocket) -> Void
    let stopped = Atomic(false)
    let done = DispatchSemaphore(value: 0)

    init(socket: ZMQSocket, handle: @escaping @Sendable ([[UInt8]], ZMQSocket) -> Void) {
        self.socket = socket
        self.handle = handle
        Thread { [self] in loop() }.start()
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        done.wait()
    }

    func loop() {
        defer {
            socket.close()
            done.signal()
        }
        while !stopped.load(ordering: .acquiring) {
            if let (frames, _, _) = try? socket.receive(timeout: 0.1, maxFrames: 16) { handle(frames, socket) }
        }
    }
}
