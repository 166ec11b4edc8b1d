/// The code of an `error` message (Docs/protocol.md §4.3): one value per kind of refusal, spelled on the wire as
/// today's strings. A code this build does not know (from a newer peer) decodes as itself, so a peer never fails on
/// an `error` it cannot name; `known` lists the codes this protocol version defines.
public struct ErrorCode: WireName {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The frames do not make a message (too few or too many, a bad header).
    public static let framing = ErrorCode("framing")
    /// A protocol version the coordinator does not speak (the error lists those it does).
    public static let version = ErrorCode("version")
    /// An unknown command byte.
    public static let command = ErrorCode("command")
    /// A body or payload over its size limit.
    public static let size = ErrorCode("size")
    /// A malformed or invalid body (an invalid `JobSpec` too).
    public static let body = ErrorCode("body")
    /// A message the coordinator could not parse before it knew the sender (counted, answered, dropped).
    public static let malformed = ErrorCode("malformed")
    /// The coordinator could not act in its present state.
    public static let state = ErrorCode("state")
    /// A worker message from a peer that has not said `ready`: the worker must say `ready` again.
    public static let unknownWorker = ErrorCode("unknown-worker")
    /// The sender's role may not send this command, or its routing id belongs to another key.
    public static let forbidden = ErrorCode("forbidden")
    /// Over a limit for now (too many peers, an output chunk over the key's budget): try again later.
    public static let busy = ErrorCode("busy")
    /// The coordinator is stopping: workers reconnect.
    public static let shutdown = ErrorCode("shutdown")
    /// A control's refusals (`ControlRefusal.Code`): no such job or worker, not in this state, a wrong request.
    public static let notFound = ErrorCode("not-found"), conflict = ErrorCode("conflict"),
        invalid = ErrorCode("invalid")

    /// Every code this protocol version defines.
    public static let known: [ErrorCode] = [
        .framing, .version, .command, .size, .body, .malformed, .state, .unknownWorker,
        .forbidden, .busy, .shutdown, .notFound, .conflict, .invalid
    ]
}

extension ControlRefusal.Code {
    /// The `error` code a control's refusal is sent with.
    public var errorCode: ErrorCode { ErrorCode(rawValue) }
}
