import Foundation
import Glibc

/// The CDP transport: NUL-delimited JSON over two pipes, a reader thread, and per-call
/// semaphores. All mutable state is guarded by `lock`.
// unchecked: a thin wrapper of two file descriptors: every `var` is used under `lock`, writes to `writeFD` under
// `writeLock`, and the descriptors are closed once, after the reader thread has exited.
final class CDPPipe: @unchecked Sendable {
    // unchecked: `result` and `failure` are written (under the pipe's `lock`) before `done` is signalled, and read
    // by the caller only after `done` is waited for.
    private final class Pending: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var result: [String: Any]?
        var failure: String?
    }

    private let readFD: Int32
    private let writeFD: Int32
    private let lock = NSLock()
    private let writeLock = NSLock()
    private let readerExited = DispatchSemaphore(value: 0)
    private var nextID = 1
    private var pending: [Int: Pending] = [:]
    private var log: [String] = []
    private var loads = 0
    private var closed: String?
    private var stopping = false
    private var session = ""
    private var fdsClosed = false

    init(readFD: Int32, writeFD: Int32) {
        self.readFD = readFD
        self.writeFD = writeFD
    }

    var consoleLog: [String] { lock.withLock { log } }
    var loadEventCount: Int { lock.withLock { loads } }
    /// Why the connection is unusable (browser exited, pipe error), or nil while it works.
    var closedReason: String? { lock.withLock { closed } }
    /// Session whose `Page.loadEventFired` events are counted.
    var pageSession: String {
        get { lock.withLock { session } }
        set { lock.withLock { session = newValue } }
    }

    func start() {
        let thread = Thread { [self] in readLoop() }
        thread.name = "HeadlessBrowser CDP reader"
        thread.start()
    }

    /// Stops the reader (within ~200 ms) and closes both descriptors.
    func stop() {
        lock.withLock { stopping = true }
        let exited = readerExited.wait(timeout: .now() + 3) == .success
        fail("the browser was closed")
        lock.lock()
        let mayClose = exited && !fdsClosed
        if mayClose { fdsClosed = true }
        lock.unlock()
        if mayClose {  // if the reader is somehow stuck in read(), leak rather than race on the fd
            writeLock.withLock {
                Glibc.close(readFD)
                Glibc.close(writeFD)
            }
        }
    }

    func call(_ method: String, _ params: [String: Any], sessionID: String?, timeout: Double) throws -> [String: Any] {
        let call = Pending()
        lock.lock()
        if let reason = closed {
            lock.unlock()
            throw HeadlessBrowserError("CDP \(method): \(reason)")
        }
        let id = nextID
        nextID += 1
        pending[id] = call
        lock.unlock()

        do {
            try send(id: id, method, params, sessionID: sessionID, timeout: timeout)
        } catch {
            lock.withLock { _ = pending.removeValue(forKey: id) }
            throw error
        }
        if call.done.wait(timeout: .now() + timeout) == .timedOut {
            lock.withLock { _ = pending.removeValue(forKey: id) }
            throw HeadlessBrowserError("CDP \(method) timed out after \(timeout)s")
        }
        return try lock.withLock {
            if let failure = call.failure { throw HeadlessBrowserError("CDP \(method): \(failure)") }
            return call.result ?? [:]
        }
    }

    /// Sends without waiting for the response (used from the reader thread).
    private func post(_ method: String, _ params: [String: Any], sessionID: String?) {
        let id = lock.withLock { () -> Int in
            nextID += 1; return nextID - 1
        }
        try? send(id: id, method, params, sessionID: sessionID, timeout: 2)
    }

    private func send(id: Int, _ method: String, _ params: [String: Any], sessionID: String?, timeout: Double) throws {
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let sessionID { message["sessionId"] = sessionID }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        let deadline = Date().addingTimeInterval(timeout)
        writeLock.lock()
        defer { writeLock.unlock() }
        if lock.withLock({ fdsClosed }) { throw HeadlessBrowserError("CDP \(method): the browser was closed") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 { offset += n; continue }
            let err = errno
            if n < 0 && err == EINTR { continue }
            guard n < 0 && err == EAGAIN else {
                throw HeadlessBrowserError(
                    "CDP \(method): writing to the browser failed: \(String(cString: strerror(err)))")
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw HeadlessBrowserError("CDP \(method): timed out writing to the browser") }
            var pfd = pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, Int32(min(left * 1000, 1000)) + 1)
        }
    }

    private func readLoop() {
        defer { readerExited.signal() }
        var buffer: [UInt8] = []
        var scanned = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !lock.withLock({ stopping }) {
            var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 200)
            if ready < 0 && errno != EINTR {
                fail("polling the browser pipe failed: \(String(cString: strerror(errno)))"); return
            }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress!, $0.count) }
            if n == 0 { fail("the browser exited (its CDP pipe closed)"); return }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                fail("reading the browser pipe failed: \(String(cString: strerror(errno)))")
                return
            }
            buffer.append(contentsOf: chunk[0 ..< n])
            var start = 0
            while let end = buffer[scanned...].firstIndex(of: 0) {
                handle(Data(buffer[start ..< end]))
                start = end + 1
                scanned = start
            }
            if start > 0 { buffer.removeFirst(start) }
            scanned = buffer.count
        }
    }

    /// Marks the connection dead and fails every waiting call at once.
    private func fail(_ reason: String) {
        lock.lock()
        if closed == nil { closed = reason }
        let waiting = pending.values
        pending.removeAll()
        for call in waiting { call.failure = closed }
        lock.unlock()
        for call in waiting { call.done.signal() }
    }

    private func handle(_ data: Data) {
        guard let message = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        if let id = (message["id"] as? NSNumber)?.intValue {
            lock.lock()
            let call = pending.removeValue(forKey: id)
            if let error = message["error"] as? [String: Any] {
                var text = "\(error["message"] ?? "error") (code \(error["code"] ?? "?"))"
                if let detail = error["data"] { text += ": \(detail)" }
                call?.failure = text
            } else {
                call?.result = message["result"] as? [String: Any] ?? [:]
            }
            lock.unlock()
            call?.done.signal()
            return
        }
        guard let method = message["method"] as? String else { return }
        let params = message["params"] as? [String: Any] ?? [:]
        let sessionID = message["sessionId"] as? String
        switch method {
        case "Runtime.consoleAPICalled":
            let args = (params["args"] as? [[String: Any]] ?? []).map(Self.describe(remote:))
            record("[\(params["type"] as? String ?? "log")] \(args.joined(separator: " "))")
        case "Runtime.exceptionThrown":
            record("[exception] \(Self.describe(exception: params["exceptionDetails"] as? [String: Any] ?? [:]))")
        case "Page.javascriptDialogOpening":
            record("[dialog \(params["type"] as? String ?? "")] \(params["message"] as? String ?? "") (accepted)")
            post("Page.handleJavaScriptDialog", ["accept": true], sessionID: sessionID)
        case "Page.loadEventFired":
            lock.withLock { if sessionID == session { loads += 1 } }
        case "Inspector.targetCrashed":
            record("[crash] the page's renderer crashed")
        default:
            break
        }
    }

    private func record(_ line: String) {
        lock.withLock {
            log.append(line)
            if log.count > 2000 { log.removeFirst(log.count - 2000) }
        }
    }

    /// Text of a CDP `Runtime.RemoteObject`.
    static func describe(remote: [String: Any]) -> String {
        if let v = remote["value"] {
            if let s = v as? String { return s }
            if JSONSerialization.isValidJSONObject(v),
                let data = try? JSONSerialization.data(withJSONObject: v)
            {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(v)"
        }
        if let u = remote["unserializableValue"] as? String { return u }
        if let preview = remote["preview"] as? [String: Any],
            let props = preview["properties"] as? [[String: Any]],
            [nil, "array"].contains(remote["subtype"] as? String)
        {
            let isArray = preview["subtype"] as? String == "array"
            let items = props.map { p in
                let v = p["value"] as? String ?? p["type"] as? String ?? "?"
                return isArray ? v : "\(p["name"] as? String ?? "?"): \(v)"
            }
            let more = preview["overflow"] as? Bool == true ? ", …" : ""
            return isArray ? "[\(items.joined(separator: ", "))\(more)]" : "{\(items.joined(separator: ", "))\(more)}"
        }
        if let d = remote["description"] as? String { return d }
        return remote["type"] as? String ?? "?"
    }

    /// Text of a CDP `Runtime.ExceptionDetails`, with its location.
    static func describe(exception details: [String: Any]) -> String {
        var text = details["text"] as? String ?? "exception"
        if let exception = details["exception"] as? [String: Any] {
            let d = describe(remote: exception)
            text = text == "Uncaught" || text == "exception" ? d : "\(text) \(d)"
        }
        if let url = details["url"] as? String, !url.isEmpty, !text.contains(url) {
            let line = ((details["lineNumber"] as? NSNumber)?.intValue ?? 0) + 1
            text += " (\(url):\(line))"
        }
        return text
    }
}
