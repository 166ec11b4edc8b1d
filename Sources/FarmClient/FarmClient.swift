import FarmProtocol
import FarmTransport
import Foundation

/// What `submit`, `status`, `jobs` and the controls use: request–reply over a DEALER with the Lazy Pirate pattern (a
/// request unanswered within `timeout` is sent again on a fresh socket, `retries` times).
public final class FarmClient {
    public let endpoint: String
    public let security: ClientSecurity
    public var timeout: Double
    public var retries: Int
    var socket: ZMQSocket?
    /// The current socket's handshakes (CURVE only): a refused key is reported within `handshakeCheck` seconds.
    var watch: HandshakeWatch?
    /// How often a request waiting for its answer looks at the handshake.
    static let handshakeCheck = 0.2

    public init(endpoint: String, security: ClientSecurity = .plaintext, timeout: Double = 10, retries: Int = 3) {
        self.endpoint = endpoint
        self.security = security
        self.timeout = timeout
        self.retries = retries
    }

    public enum ClientError: Error, CustomStringConvertible {
        case noAnswer(String, Double, Int)
        case refused(String)
        /// The coordinator is busy (`error` code `busy`: its peer table is full, or this key's output chunk is still
        /// on its way or over its rate): the same request may succeed a moment later.
        case busy(String)
        /// The CURVE handshake failed: the key was refused, or the server key is wrong (the message says which).
        case handshake(String)
        public var description: String {
            switch self {
            case let .noAnswer(e, t, n):
                "no answer from the coordinator at \(e) (\(n) tries, \(Int(saturating: t)) s each); is it running?"
            case let .refused(why), let .handshake(why), let .busy(why): why
            }
        }
    }

    func closeSocket() {
        watch?.stop()
        watch = nil
        socket?.close()
        socket = nil
    }

    /// Waits up to `timeout` for an answer, looking at the handshake every `handshakeCheck` seconds.
    func answer() throws -> (frames: [[UInt8]], truncated: Bool)? {
        let deadline = Date().addingTimeInterval(timeout)
        while let socket {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            if let (frames, truncated, _) = try socket.receive(
                timeout: min(left, Self.handshakeCheck), maxFrames: FarmProtocol.Limits.maxFrames + 1)
            {
                return (frames, truncated)
            }
            if let failure = watch?.take(), let keys = security.keys {
                closeSocket()
                throw ClientError.handshake(
                    failure.message(endpoint: endpoint, publicKey: keys.publicKey, role: "client"))
            }
        }
        return nil
    }

    /// Sends a request and returns the answer; `error` and `reject` answers throw.
    public func request(_ m: Message) throws -> Message {
        for _ in 0 ..< max(1, retries) {
            if socket == nil {
                let s = try ZMQSocket(.dealer)
                try security.apply(to: s)
                try s.setMaxFrameSize(FarmProtocol.Limits.maxFrameSize)
                // before connecting: the first handshake counts
                if security.keys != nil { watch = try HandshakeWatch(s) }
                try s.connect(endpoint)
                socket = s
            }
            _ = try socket?.send(m.frames)
            if let (frames, truncated) = try answer() {
                let reply = try Message(frames: frames, truncated: truncated)
                switch reply.command {
                case .error:
                    let e = try reply.decode(ErrorBody.self)
                    throw e.code == .busy ? ClientError.busy(e.message) : ClientError.refused(e.message)
                case .reject: throw ClientError.refused(try reply.decode(RejectBody.self).reason)
                default: return reply
                }
            }
            closeSocket()
        }
        throw ClientError.noAnswer(endpoint, timeout, max(1, retries))
    }

    /// Submits a job with its image files (content first); returns the job id.
    public func submit(_ spec: JobSpec, content: [UInt8], styles: [[UInt8]]) throws -> JobID {
        try submit(spec, inputs: [content] + styles)
    }

    /// Submits a job with all its image files in `JobSpec.inputCount` order (content, styles, a frame's start
    /// image and mask); returns the job id.
    public func submit(_ spec: JobSpec, inputs: [[UInt8]]) throws -> JobID {
        try request(Message(.submit, SubmitBody(spec: spec), payload: inputs)).decode(SubmittedBody.self).job
    }

    public func status(job: JobID? = nil) throws -> StatusReplyBody {
        try StatusReplyBody.decode(try request(Message(.status, StatusBody(job: job))))
    }

    public func cancel(job: JobID) throws -> ControlledBody { try control(ControlBody(.cancel, job: job)) }

    /// Steers a job or a worker (`ControlBody`); a refusal throws with the coordinator's reason.
    public func control(_ body: ControlBody) throws -> ControlledBody {
        try request(Message(.control, body)).decode(ControlledBody.self)
    }

    /// The finished job's output file bytes, fetched chunk by chunk (`OutputBody.chunk`).
    public func output(job: JobID) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var wait = 0.05
        while true {
            let reply: Message
            do {
                reply = try request(Message(.fetchOutput, OutputRequestBody(job: job, offset: bytes.count)))
                wait = 0.05
            } catch ClientError.busy {
                // The last chunk still on its way, or this key over its chunks a minute: a moment later.
                Thread.sleep(forTimeInterval: wait)
                wait = min(2, wait * 2)
                continue
            }
            guard reply.command == .output, reply.payload.count == 1 else {
                throw ClientError.refused("no output in the answer")
            }
            let body = try reply.decode(OutputBody.self)
            guard (body.offset ?? 0) == bytes.count else {
                throw ClientError.refused("the output chunk is not the one asked for")
            }
            bytes += reply.payload[0]
            let size = body.size ?? bytes.count
            guard bytes.count < size else { return bytes }
            guard !reply.payload[0].isEmpty else {
                throw ClientError.refused("the output ended at \(bytes.count) of \(size) bytes")
            }
        }
    }

    /// Polls until the job ends, calling `progress` with each status; returns the final status.
    /// `progress` may throw to stop waiting.
    public func wait(job: JobID, poll: Double = 0.5, progress: (JobStatus) throws -> Void = { _ in }) throws
        -> JobStatus
    {
        while true {
            guard let s = try status(job: job).jobs.first else {
                throw ClientError.refused("the coordinator forgot job \(job)")
            }
            try progress(s)
            if s.state.isFinal { return s }
            Thread.sleep(forTimeInterval: poll)
        }
    }
}
