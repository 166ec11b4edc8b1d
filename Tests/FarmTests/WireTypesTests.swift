import FarmProtocol
import Foundation
import Imaging
import Testing

/// The wire's typed names and the assign message's one codec.
@Suite struct WireTypesTests {
    /// A typed name is its string on the wire, both ways, and an unknown one decodes as itself.
    @Test func aWireNameCodesAsItsString() throws {
        let body = FetchBody(kind: .targets, sha256: "ab")
        let json = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        #expect(json.contains(#""kind":"targets""#))
        let newer = try JSONDecoder().decode(FetchBody.self, from: Data(#"{"kind":"thumbnails","sha256":"ab"}"#.utf8))
        #expect(newer.kind == BlobKind("thumbnails") && !BlobKind.known.contains(newer.kind))
        #expect(throws: ProtocolError.self) { try newer.validateWire() }
        #expect(try JSONDecoder().decode(ErrorCode.self, from: Data(#""busy""#.utf8)) == .busy)
    }

    /// Typed ids (`JobID`, `WorkerID`, `LeaseToken`) are their strings on the wire: the bodies that carry them encode
    /// byte for byte as they did when the fields were `String`s, and decode back.
    @Test func typedIdsKeepTheWireBytes() throws {
        let result = Message(.result, ResultBody(lease: "L1", seconds: 2, loss: 0.5))
        #expect(String(decoding: result.body, as: UTF8.self) == #"{"lease":"L1","loss":0.5,"seconds":2}"#)
        #expect(try result.decode(ResultBody.self).lease == LeaseToken("L1"))
        let reject = Message(.reject, RejectBody(lease: "L2", reason: "stale"))
        #expect(String(decoding: reject.body, as: UTF8.self) == #"{"lease":"L2","reason":"stale"}"#)
        let worker = WorkerStatus(id: "w1", name: "n", threads: 1, tiles: 0, computeSeconds: 0, leases: ["L1", "L2"])
        let json = String(decoding: try JSONEncoder().encode(worker), as: UTF8.self)
        #expect(json.contains(#""leases":["L1","L2"]"#) && json.contains(#""id":"w1""#))
        let control = Message(.control, ControlBody(.drain, job: "j1", worker: "w1"))
        #expect(String(decoding: control.body, as: UTF8.self) == #"{"job":"j1","verb":"drain","worker":"w1"}"#)
        let submitted = Message(.submitted, SubmittedBody(job: "j1"))
        #expect(String(decoding: submitted.body, as: UTF8.self) == #"{"job":"j1"}"#)
        #expect(try submitted.decode(SubmittedBody.self).job == "j1")
        let welcome = Message(
            .welcome, WelcomeBody(worker: "w1", heartbeatSeconds: 1, liveness: 3, weights: "ab", weightsBytes: 2))
        #expect(
            String(decoding: welcome.body, as: UTF8.self)
                == #"{"heartbeatSeconds":1,"liveness":3,"weights":"ab","weightsBytes":2,"worker":"w1"}"#)
        #expect(try welcome.decode(WelcomeBody.self).worker == WorkerID("w1"))
    }

    static func image(_ w: Int, _ h: Int, channels: Int = 3, seed: Float) -> PlanarImage {
        PlanarImage(
            width: w, height: h, channels: channels, pixels: (0 ..< w * h * channels).map { Float($0) * 0.01 + seed })
    }

    /// What the coordinator lays out is what the worker reads, for each shape of assignment.
    @Test func assignCropsRoundTripInEveryShape() throws {
        let (w, h) = (5, 3)
        let content = Self.image(w, h, seed: 1), canvas = Self.image(w, h, seed: 2)
        let temporal = (image: Self.image(w, h, seed: 3), mask: Self.image(w, h, channels: 1, seed: 4))
        let guides = Self.image(w, h, channels: 2, seed: 5)
        for (t, g) in [(false, false), (true, false), (false, true), (true, true)] {
            let sent = AssignCrops(
                content: content, canvas: canvas, temporal: t ? temporal : nil, guides: g ? guides : nil)
            #expect(sent.frames.count == 2 + (t ? 2 : 0) + (g ? 1 : 0))
            let read = try AssignCrops(frames: sent.frames, width: w, height: h, regions: g ? 2 : nil)
            #expect(read.content == content && read.canvas == canvas && read.guides == (g ? guides : nil))
            #expect(
                read.temporal?.image == (t ? temporal.image : nil) && read.temporal?.mask == (t ? temporal.mask : nil))
        }
    }

    /// Frames that do not fit the body are refused, not trapped on: a wrong count, a wrong size, guides of another
    /// region count.
    @Test func assignCropsThatDoNotFitAreRefused() {
        let frames = AssignCrops(content: Self.image(4, 4, seed: 0), canvas: Self.image(4, 4, seed: 0)).frames
        #expect(throws: ProtocolError.self) { try AssignCrops(frames: [frames[0]], width: 4, height: 4, regions: nil) }
        #expect(throws: ProtocolError.self) {
            try AssignCrops(frames: frames + [frames[0]], width: 4, height: 4, regions: nil)
        }
        #expect(throws: ProtocolError.self) { try AssignCrops(frames: frames, width: 4, height: 5, regions: nil) }
        #expect(throws: ProtocolError.self) {
            try AssignCrops(frames: frames + [frames[0]], width: 4, height: 4, regions: 2)
        }
    }
}
