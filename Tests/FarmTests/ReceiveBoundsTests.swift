import FarmProtocol
import FarmTransport
import Testing

/// What a peer's frames may cost before a message is even decoded (Docs/security.md, "Limits"): frames past a
/// message's byte bound are read and dropped uncopied, and the message is marked truncated (refused as framing).
@Suite struct ReceiveBoundsTests {
    @Test func framesPastTheByteBoundAreDroppedUncopied() throws {
        let endpoint = "inproc://receive-bounds-\(UInt32.random(in: 0 ... .max))"
        let router = try ZMQSocket(.router), dealer = try ZMQSocket(.dealer)
        defer { dealer.close(); router.close() }
        _ = try router.bind(endpoint)
        try dealer.connect(endpoint)
        let kilobyte = [UInt8](repeating: 7, count: 1024)
        _ = try dealer.send([[1], kilobyte, kilobyte, kilobyte, [2]])
        let got = try #require(try router.receive(timeout: 5, maxFrames: 16, maxBytes: 2100))
        #expect(got.truncated, "the third kilobyte takes it past 2,100 bytes")
        #expect(
            got.frames.count == 4 && got.frames.reduce(0) { $0 + $1.count } <= 2100,
            "routing id, [1] and two kilobytes kept: \(got.frames.map(\.count))")
        #expect(throws: ProtocolError.tooManyFrames) {
            try Message(frames: Array(got.frames.dropFirst()), truncated: got.truncated)
        }
        _ = try dealer.send([[1], kilobyte])
        let next = try #require(try router.receive(timeout: 5, maxFrames: 16, maxBytes: 2100))
        #expect(!next.truncated && next.frames.count == 3, "the next message is read whole")
    }
}
