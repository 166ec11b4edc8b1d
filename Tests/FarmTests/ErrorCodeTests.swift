import FarmProtocol
import Foundation
import Testing

/// `ErrorCode`: the wire keeps today's strings, a newer peer's code decodes as itself, and every code the farm sends
/// is one `known` names.
@Suite struct ErrorCodeTests {
    @Test func codesTravelAsTheirStringsAndUnknownOnesSurvive() throws {
        let body = ErrorBody(code: .unknownWorker, message: "say ready first")
        let json = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        #expect(json.contains(#""code":"unknown-worker""#))
        let newer = try JSONDecoder().decode(
            ErrorBody.self, from: Data(#"{"code":"from-the-future","message":"m"}"#.utf8))
        #expect(newer.code == ErrorCode("from-the-future") && !ErrorCode.known.contains(newer.code))
    }

    @Test func everyCodeTheFarmSendsIsKnown() {
        let protocolCodes = [
            ProtocolError.tooFewFrames, .tooManyFrames, .badHeader, .unsupportedVersion(9), .unknownCommand(0),
            .bodyTooLarge(1), .payloadTooLarge(1), .malformedBody("")
        ].map(\.code)
        let controlCodes = ControlRefusal.Code.allCases.map(\.errorCode)
        #expect(Set(protocolCodes + controlCodes).isSubset(of: Set(ErrorCode.known)))
        #expect(Set(ErrorCode.known.map(\.rawValue)).count == ErrorCode.known.count, "each code once")
    }
}
