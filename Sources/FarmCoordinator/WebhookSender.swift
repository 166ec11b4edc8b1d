import FarmMonitor
import FarmProtocol
import Foundation
import Logging
import StyleCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The coordinator's webhooks: one `WebhookSender` per URL, each on its own thread, so the loop only enqueues
/// (`post`) and a receiver that is down or hangs delays neither the loop nor another receiver.
public final class Webhooks: Sendable {
    let senders: [WebhookSender]
    /// The file the HMAC key is in.
    public let secretFile: URL

    public init(config: WebhookConfig, stateDirectory: URL, logger: Logger, monitor: FarmMonitor? = nil) throws {
        let urls = try config.urls.map { url throws(WebhookError) in try WebhookConfig.url(url.absoluteString) }
        let (key, file, created) = try WebhookSecret.load(file: config.secretFile, stateDirectory: stateDirectory)
        secretFile = file
        senders = urls.map { WebhookSender(url: $0, key: key, policy: config.policy, logger: logger, monitor: monitor) }
        logger.info(
            "webhooks: \(urls.count) URL(s), requests signed with the key in \(file.path)\(created ? " (generated now)" : "")"
        )
    }

    /// Queues a notice for every URL; never waits.
    public func post(_ notice: FarmNotice) {
        do {
            let delivery = try WebhookDelivery(notice)
            senders.forEach { $0.post(delivery) }
        } catch {
            senders.first?.logger.error("webhook event \(notice.event.rawValue) not encoded: \(error)")
        }
    }

    /// Gives what waits up to `grace` seconds to go out, then stops the senders (the coordinator is stopping).
    public func stop(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        senders.forEach { $0.stop(by: deadline) }
    }
}

/// Posts one URL's events, oldest due first (`WebhookQueue`), on its own thread; each request signed
/// (`WebhookSignature`) and bounded by `WebhookPolicy.timeout`. Only a 2xx answer delivers; redirects are not followed.
// unchecked: `queue`, `inFlight` and `stopAt` are used only under `condition` (an NSCondition: the sender's thread waits
// on it, which a Mutex cannot do); everything else is a `let` of Sendable values.
final class WebhookSender: @unchecked Sendable {
    let url: URL
    let key: [UInt8]
    let policy: WebhookPolicy
    let logger: Logger
    let monitor: FarmMonitor?
    let session: URLSession
    let condition = NSCondition()
    var queue: WebhookQueue<WebhookDelivery>
    var inFlight = false
    /// Set when stopping: nothing is tried after it.
    var stopAt: Date?
    let clock = ContinuousClock.now

    init(url: URL, key: [UInt8], policy: WebhookPolicy, logger: Logger, monitor: FarmMonitor?) {
        (self.url, self.key, self.policy, self.logger, self.monitor) = (url, key, policy, logger, monitor)
        queue = WebhookQueue(policy: policy)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = policy.timeout
        configuration.timeoutIntervalForResource = policy.timeout
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
        let thread = Thread { [self] in run() }
        thread.name = "stylefarm.webhook"
        thread.start()
    }

    var now: Double { clock.elapsedSeconds }

    func post(_ delivery: WebhookDelivery) {
        condition.lock()
        let dropped = queue.enqueue(delivery, now: now)
        condition.signal()
        condition.unlock()
        if let dropped { report(dropped: dropped) }
    }

    func stop(by deadline: Date) {
        condition.lock()
        while (!queue.isEmpty || inFlight) && Date() < deadline { _ = condition.wait(until: deadline) }
        stopAt = Date()
        condition.broadcast()
        condition.unlock()
    }

    func run() {
        condition.lock()
        while stopAt == nil {
            guard let entry = queue.take(now: now) else {
                if let due = queue.nextDue {
                    _ = condition.wait(until: Date().addingTimeInterval(max(due - now, 0.001)))
                } else {
                    condition.wait()
                }
                continue
            }
            inFlight = true
            condition.unlock()
            let failure = send(entry.item)
            condition.lock()
            inFlight = false
            let attempt = entry.attempts + 1, metadata = metadata(entry.item)
            if let failure {
                let (retryAt, dropped) = queue.failed(entry, now: now)
                if let retryAt {
                    logger.info(
                        "webhook try \(attempt) failed: \(failure); next in \(Int(saturating: (retryAt - now).rounded(.up))) s",
                        metadata: metadata)
                } else if dropped == nil {
                    monitor?.webhooksFailed.increment()
                    logger.error("webhook given up after \(attempt) tries: \(failure)", metadata: metadata)
                }
                if let dropped { report(dropped: dropped) }
            } else {
                monitor?.webhooksDelivered.increment()
                logger.debug("webhook delivered (try \(attempt))", metadata: metadata)
            }
            condition.broadcast()
        }
        condition.unlock()
    }

    func report(dropped: WebhookDelivery) {
        monitor?.webhooksDropped.increment()
        logger.warning(
            "webhook event dropped: more than \(policy.queueLimit) wait for this URL", metadata: metadata(dropped))
    }

    func metadata(_ d: WebhookDelivery) -> Logger.Metadata {
        ["webhook.url": "\(url.absoluteString)", "webhook.event": "\(d.event.rawValue)", "webhook.delivery": "\(d.id)"]
    }

    /// One try: nil when the receiver answered 2xx, else what went wrong.
    func send(_ delivery: WebhookDelivery) -> String? {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: policy.timeout)
        request.httpMethod = "POST"
        request.httpBody = Data(delivery.body)
        let time = Int(saturating: Date().timeIntervalSince1970.rounded(.down))
        for (name, value) in [
            ("Content-Type", "application/json"), ("User-Agent", "StyleFarm-Webhooks/1"),
            ("StyleFarm-Event", delivery.event.rawValue), ("StyleFarm-Delivery", delivery.id),
            (WebhookSignature.header, WebhookSignature.sign(body: delivery.body, key: key, time: time))
        ] {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let answer = Answer()
        let task = session.dataTask(with: request) { _, response, error in
            answer.set(
                error.map { "\($0.localizedDescription)" }
                    ?? (response as? HTTPURLResponse).map {
                        (200 ..< 300).contains($0.statusCode) ? nil : "HTTP \($0.statusCode)"
                    }
                    ?? "no HTTP answer")
        }
        task.resume()
        // URLSession's timeouts, and this one as well: a receiver that never answers cannot hold the sender longer.
        guard answer.done.wait(timeout: .now() + policy.timeout + 1) == .success else {
            task.cancel()
            return "no answer in \(Int(saturating: policy.timeout)) s"
        }
        return answer.value
    }

    /// A try's outcome, set once by URLSession's callback.
    final class Answer: Sendable {
        let done = DispatchSemaphore(value: 0)
        private let outcome = Mutex<String?>(nil)
        var value: String? { outcome.withLock { $0 } }
        func set(_ v: String?) {
            outcome.withLock { $0 = v }
            done.signal()
        }
    }

    /// Refuses redirects: the operator's URL answers, or the try fails.
    final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
        ) {
            completionHandler(nil)
        }
    }
}
