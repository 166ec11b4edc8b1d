import Foundation
import Glibc

/// An error from `HeadlessBrowser`; `description` carries the whole message.
public struct HeadlessBrowserError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A small driver for headless Chromium over the Chrome DevTools Protocol, using
/// `--remote-debugging-pipe`: commands go to the child's fd 3 and responses/events come
/// back on its fd 4, each message NUL-terminated JSON.
///
/// One page target is created and attached with a flattened session; `command` talks to
/// that page. Every blocking call has a timeout. JavaScript dialogs are accepted
/// automatically. Console output and uncaught exceptions are kept in `consoleLog`.
///
/// Chromium runs in its own process group, which `close()` (also run by `deinit`) kills
/// as a whole before removing the temporary profile directory.
/// unchecked Sendable: `closed` is under `closeLock`, the rest is set in `init`; `pipe` locks its own state.
public final class HeadlessBrowser: @unchecked Sendable {
    /// Executables tried, in order, by `defaultExecutable`.
    public static let candidateExecutables = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell"]

    /// The first existing candidate executable, or the first candidate if none exists.
    public static var defaultExecutable: String {
        candidateExecutables.first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? candidateExecutables[0]
    }

    /// Whether any candidate executable exists (lets tests skip early).
    public static var isAvailable: Bool {
        candidateExecutables.contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Process id of the browser (also its process group id).
    public let pid: pid_t
    /// The fresh `--user-data-dir`, removed by `close()`.
    public let profileDirectory: String
    /// Target id of the page this browser drives.
    public private(set) var targetID = ""
    /// Flattened CDP session id of that page.
    public private(set) var sessionID = ""

    private let pipe: CDPPipe
    private let closeLock = NSLock()
    private var closed = false

    /// Console messages (`[log] ...`), uncaught exceptions (`[exception] ...`), accepted
    /// dialogs and crashes, in arrival order (the last 2000 are kept).
    public var consoleLog: [String] { pipe.consoleLog }

    /// Launches Chromium with a fresh profile and opens a blank page whose viewport is exactly
    /// `width`×`height` CSS pixels (device scale factor 1).
    public init(executable: String = HeadlessBrowser.defaultExecutable, width: Int = 1400, height: Int = 1000) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw HeadlessBrowserError(
                "headless Chromium is needed (scripts/test.sh installs the Debian package chromium); "
                    + "\(executable) does not exist or is not executable")
        }
        // Writing to the pipe after Chromium died must fail with EPIPE, not kill the tests.
        signal(SIGPIPE, SIG_IGN)

        let profile = try Self.makeProfile()

        let (childIn, parentOut, parentIn, childOut) = try Self.pipes(removingOnFailure: profile)
        let args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
            "--remote-debugging-pipe", "--user-data-dir=\(profile)", "--window-size=\(width),\(height)",
            "about:blank"
        ]
        let (rc, childPID) = Self.spawn(executable, args, stdin: childIn, stdout: childOut)
        Glibc.close(childIn)
        Glibc.close(childOut)
        guard rc == 0, childPID > 1 else {
            Glibc.close(parentIn)
            Glibc.close(parentOut)
            try? FileManager.default.removeItem(atPath: profile)
            throw HeadlessBrowserError("posix_spawn \(executable) failed: \(String(cString: strerror(rc)))")
        }
        _ = fcntl(parentIn, F_SETFL, fcntl(parentIn, F_GETFL) | O_NONBLOCK)
        _ = fcntl(parentOut, F_SETFL, fcntl(parentOut, F_GETFL) | O_NONBLOCK)

        pid = childPID
        profileDirectory = profile
        pipe = CDPPipe(readFD: parentIn, writeFD: parentOut)
        pipe.start()

        do {
            let target = try browserCommand("Target.createTarget", ["url": "about:blank"])
            guard let tid = target["targetId"] as? String else {
                throw HeadlessBrowserError("Target.createTarget returned no targetId: \(target)")
            }
            targetID = tid
            let attached = try browserCommand("Target.attachToTarget", ["targetId": tid, "flatten": true])
            guard let sid = attached["sessionId"] as? String else {
                throw HeadlessBrowserError("Target.attachToTarget returned no sessionId: \(attached)")
            }
            sessionID = sid
            pipe.pageSession = sid
            _ = try command("Page.enable")
            _ = try command("Runtime.enable")
            // Headless Chromium 156 reserves 87 px of the window for invisible browser UI, so
            // the viewport would be width×(height-87); pin it to exactly width×height.
            _ = try command(
                "Emulation.setDeviceMetricsOverride",
                ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
        } catch {
            close()
            throw HeadlessBrowserError("starting \(executable) failed: \(error)")
        }
    }

    deinit { close() }

    /// A fresh, empty profile directory for one browser.
    static func makeProfile() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/headless-chromium.XXXXXX").utf8CString)
        guard let dirPtr = mkdtemp(&template) else {
            throw HeadlessBrowserError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        return String(cString: dirPtr)
    }

    /// The two pipes of the DevTools protocol, every end above fd 4: (the child's input, the parent's output, the
    /// parent's input, the child's output). On failure `profile` is removed.
    static func pipes(removingOnFailure profile: String) throws -> (Int32, Int32, Int32, Int32) {
        // toChild: parent writes [1], child reads [0] as fd 3. fromChild: child writes [1] as fd 4.
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
        guard Self.cloexecPipe(&toChild), Self.cloexecPipe(&fromChild) else {
            let message = String(cString: strerror(errno))
            for fd in toChild + fromChild where fd >= 0 { Glibc.close(fd) }
            try? FileManager.default.removeItem(atPath: profile)
            throw HeadlessBrowserError("pipe2 failed: \(message)")
        }
        // Keep every end above fd 4 so adddup2 never has source == target (which would keep CLOEXEC).
        func lift(_ fd: Int32) -> Int32 {
            guard fd <= 4 else { return fd }
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            Glibc.close(fd)
            return moved
        }
        let childIn = lift(toChild[0]), parentOut = lift(toChild[1])
        let parentIn = lift(fromChild[0]), childOut = lift(fromChild[1])
        return (childIn, parentOut, parentIn, childOut)
    }

    /// Spawns Chromium in its own process group, `stdin` as its fd 3 and `stdout` as its fd 4 (the pipe's ends), no
    /// other descriptor of ours, SIGPIPE at its default: (posix_spawn's result, the child's pid).
    static func spawn(_ executable: String, _ args: [String], stdin: Int32, stdout: Int32) -> (Int32, pid_t) {
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, stdin, 3)
        posix_spawn_file_actions_adddup2(&actions, stdout, 4)
        // Don't leak the test process's other descriptors into Chromium (glibc >= 2.34).
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let sym = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(sym, to: CloseFrom.self)(&actions, 5)
        }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t(), defaults = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)  // own process group, so close() can kill all of it
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = args.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var childPID: pid_t = 0
        let rc = posix_spawn(&childPID, executable, &actions, &attr, cArgs, cEnv)
        return (rc, childPID)
    }

    /// Sends a command to the page session and returns its `result`.
    /// Throws on a CDP error response, on timeout, or when the browser has gone.
    @discardableResult
    public func command(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String: Any] {
        try pipe.call(method, params, sessionID: sessionID, timeout: timeout)
    }

    /// Sends a browser-level command (no session), e.g. `Browser.getVersion`.
    @discardableResult
    public func browserCommand(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String:
        Any]
    {
        try pipe.call(method, params, sessionID: nil, timeout: timeout)
    }

    /// Navigates the page and waits for its load event and `document.readyState == "complete"`.
    /// Throws on a failed navigation (e.g. `net::ERR_FILE_NOT_FOUND`) or after `timeout` seconds.
    public func navigate(_ url: String, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let loadsBefore = pipe.loadEventCount
        let result = try command("Page.navigate", ["url": url], timeout: timeout)
        if let errorText = result["errorText"] as? String, !errorText.isEmpty {
            throw HeadlessBrowserError("navigating to \(url) failed: \(errorText)")
        }
        if result["loaderId"] != nil {  // cross-document: wait for the new document's load event
            while pipe.loadEventCount == loadsBefore {
                if let gone = pipe.closedReason { throw HeadlessBrowserError("navigating to \(url): \(gone)") }
                if Date() >= deadline {
                    throw HeadlessBrowserError(
                        "navigating to \(url): no load event after \(timeout)s"
                            + Self.consoleTail(consoleLog))
                }
                usleep(20_000)
            }
        }
        try waitFor(
            "document.readyState === 'complete'", timeout: max(1, deadline.timeIntervalSinceNow),
            what: "\(url) to finish loading")
    }

    /// Evaluates a JavaScript expression in the page (promises are awaited) and returns its
    /// JSON value: `String`, `NSNumber`/`Bool`/`Int`/`Double`, `[Any]`, `[String: Any]`, or
    /// `nil` for `undefined`/`null`. NaN, Infinity, -0 and BigInts come back as strings.
    /// Throws with the exception text if the expression throws.
    @discardableResult
    public func evaluate(_ js: String, timeout: Double = 30) throws -> Any? {
        let r = try command(
            "Runtime.evaluate",
            ["expression": js, "returnByValue": true, "awaitPromise": true], timeout: timeout)
        if let details = r["exceptionDetails"] as? [String: Any] {
            throw HeadlessBrowserError("JavaScript exception: \(CDPPipe.describe(exception: details))")
        }
        let value = r["result"] as? [String: Any]
        if let v = value?["value"] { return v is NSNull ? nil : v }
        return value?["unserializableValue"] as? String
    }

    /// Polls the JavaScript expression `js` every 100 ms until it is truthy (promises are
    /// awaited). On timeout throws an error naming `what`, the last value, and the last 20
    /// console lines.
    public func waitFor(_ js: String, timeout: Double = 20, what: String) throws {
        let probe = """
            (async () => { const v = await (\(js)
            ); let d; try { d = (typeof Element !== 'undefined' && v instanceof Element)
              ? '<' + v.tagName.toLowerCase() + (v.id ? '#' + v.id : '') + '>'
              : JSON.stringify(v); } catch (e) {}
            if (d === undefined) d = String(v);
            return { ok: !!v, d: d.length > 300 ? d.slice(0, 300) + '…' : d }; })()
            """
        let deadline = Date().addingTimeInterval(timeout)
        var last = "(not evaluated)"
        while true {
            do {
                let r = try evaluate(probe, timeout: min(10, max(1, deadline.timeIntervalSinceNow)))
                let obj = r as? [String: Any]
                if (obj?["ok"] as? Bool) == true { return }
                last = obj?["d"] as? String ?? "\(String(describing: r))"
            } catch {
                last = "error: \(error)"
                if let gone = pipe.closedReason {
                    throw HeadlessBrowserError("waiting for \(what): \(gone)" + Self.consoleTail(consoleLog))
                }
            }
            if Date() >= deadline { break }
            usleep(100_000)
        }
        throw HeadlessBrowserError(
            "timed out after \(timeout)s waiting for \(what); last value: \(last)"
                + Self.consoleTail(consoleLog))
    }

    /// Clicks the centre of the first element matching the CSS `selector` with real mouse
    /// events (after scrolling it into view). Throws if nothing matches or it has no size.
    public func click(_ selector: String) throws {
        let js = """
            (() => { const el = document.querySelector(\(Self.jsString(selector)));
              if (!el) return null;
              el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
              const r = el.getBoundingClientRect();
              return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height }; })()
            """
        guard let box = try evaluate(js) as? [String: Any] else {
            throw HeadlessBrowserError("click: no element matches \(selector)" + Self.consoleTail(consoleLog))
        }
        let number = { (key: String) in (box[key] as? NSNumber)?.doubleValue ?? 0 }
        guard number("w") > 0, number("h") > 0 else {
            throw HeadlessBrowserError("click: \(selector) has no size (hidden or display:none?)")
        }
        try click(x: number("x"), y: number("y"))
    }

    /// Clicks the viewport point (`x`, `y`) in CSS pixels: move, left press, release.
    public func click(x: Double, y: Double) throws {
        try command("Input.dispatchMouseEvent", ["type": "mouseMoved", "x": x, "y": y])
        for type in ["mousePressed", "mouseReleased"] {
            try command(
                "Input.dispatchMouseEvent",
                [
                    "type": type, "x": x, "y": y, "button": "left",
                    "buttons": type == "mousePressed" ? 1 : 0, "clickCount": 1
                ])
        }
    }

    /// Returns a PNG of the viewport, or of the whole page when `fullPage` is true.
    public func screenshot(fullPage: Bool = false) throws -> Data {
        var params: [String: Any] = ["format": "png"]
        if fullPage {
            let metrics = try command("Page.getLayoutMetrics")
            let size = (metrics["cssContentSize"] ?? metrics["contentSize"]) as? [String: Any] ?? [:]
            let w = (size["width"] as? NSNumber)?.doubleValue ?? 0
            let h = (size["height"] as? NSNumber)?.doubleValue ?? 0
            params["captureBeyondViewport"] = true
            if w > 0, h > 0 {
                params["clip"] = ["x": 0, "y": 0, "width": w.rounded(.up), "height": h.rounded(.up), "scale": 1]
            }
        }
        let result = try command("Page.captureScreenshot", params, timeout: 60)
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HeadlessBrowserError("Page.captureScreenshot returned no PNG data")
        }
        return data
    }

    /// Writes a PNG of the viewport (or whole page) to `url`.
    public func screenshot(to url: URL, fullPage: Bool = false) throws {
        try screenshot(fullPage: fullPage).write(to: url)
    }

    /// Closes the browser: `Browser.close`, up to 5 s for it to exit, then SIGKILL to its
    /// whole process group; reaps it and removes the profile. Idempotent; run by `deinit`.
    public func close() {
        closeLock.lock()
        defer { closeLock.unlock() }
        guard !closed else { return }
        closed = true

        if pipe.closedReason == nil {
            _ = try? pipe.call("Browser.close", [:], sessionID: nil, timeout: 2)
        }
        if !waitForExit(seconds: 5) {
            kill(pid, SIGKILL)
            _ = waitForExit(seconds: 5)
        }
        // The exited leader is still a zombie here, so its pid (= the group id) cannot have
        // been reused: killing the group only hits Chromium's own stragglers.
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        for _ in 0 ..< 250 where waitpid(pid, &status, WNOHANG) == 0 { usleep(20_000) }
        pipe.stop()
        for _ in 0 ..< 5 {
            if (try? FileManager.default.removeItem(atPath: profileDirectory)) != nil
                || !FileManager.default.fileExists(atPath: profileDirectory)
            {
                break
            }
            usleep(100_000)
        }
    }

    /// `pipe2(fds, O_CLOEXEC)` (not exported by Swift's Glibc module), else `pipe` + `FD_CLOEXEC`.
    private static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
        if let sym = dlsym(nil, "pipe2") {
            return unsafeBitCast(sym, to: Pipe2.self)(&fds, O_CLOEXEC) == 0
        }
        guard Glibc.pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// Waits, without reaping, until the browser process has exited.
    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            var info = siginfo_t()
            let r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if r != 0 || info._sifields._kill.si_pid == pid { return true }  // exited, or not our child
            if Date() >= deadline { return false }
            usleep(20_000)
        }
    }

    /// `s` as a JavaScript string literal.
    public static func jsString(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }

    private static func consoleTail(_ log: [String]) -> String {
        log.isEmpty ? "\n(console is empty)" : "\nlast console lines:\n" + log.suffix(20).joined(separator: "\n")
    }
}
