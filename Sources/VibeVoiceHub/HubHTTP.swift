import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange run synchronously on its own URLSession. Redirects are NOT followed (the caller
/// reads the first response's headers, e.g. the Hub's X-Linked-Etag, and decides where to go next and
/// whether the Authorization header may travel there). The body is handed over chunk by chunk.
final class HubHTTPExchange: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let onResponse: (HTTPURLResponse) throws -> Void
    private let onData: (Data) throws -> Void
    private let finished = DispatchSemaphore(value: 0)
    // Written on the session's serial delegate queue, read after `finished` is signalled.
    private var response: HTTPURLResponse?
    private var callbackError: Error?
    private var transportError: Error?

    private init(onResponse: @escaping (HTTPURLResponse) throws -> Void, onData: @escaping (Data) throws -> Void) {
        self.onResponse = onResponse
        self.onData = onData
    }

    /// Runs `request` and returns its (first) response. Transport failures become `HubError.network`;
    /// an error thrown by a callback cancels the transfer and is rethrown as is.
    static func run(_ request: URLRequest,
                    onResponse: @escaping (HTTPURLResponse) throws -> Void = { _ in },
                    onData: @escaping (Data) throws -> Void = { _ in }) throws -> HTTPURLResponse {
        let exchange = HubHTTPExchange(onResponse: onResponse, onData: onData)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = request.timeoutInterval
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: exchange, delegateQueue: queue)
        let task = session.dataTask(with: request)
        task.resume()
        exchange.finished.wait()
        session.finishTasksAndInvalidate()
        if let error = exchange.callbackError { throw error }
        if let error = exchange.transportError {
            let host = request.url.map { "\($0.scheme ?? "http")://\($0.host ?? "")" + ($0.port.map { ":\($0)" } ?? "") } ?? "?"
            throw HubError.network("\(host): \(describe(error))")
        }
        guard let response = exchange.response else {
            throw HubError.network("\(request.url?.absoluteString ?? "?"): no HTTP response")
        }
        return response
    }

    /// FoundationNetworking's localized descriptions are often just "The operation could not be completed".
    static func describe(_ error: Error) -> String {
        let code = (error as? URLError)?.code.rawValue ?? (error as NSError).code
        switch code {
        case NSURLErrorTimedOut: return "the request timed out"
        case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: return "host not found (no network, or a wrong HF_ENDPOINT?)"
        case NSURLErrorCannotConnectToHost: return "connection refused"
        case NSURLErrorNetworkConnectionLost: return "the connection was lost"
        case NSURLErrorNotConnectedToInternet: return "not connected to the internet"
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted, NSURLErrorServerCertificateHasBadDate,
             NSURLErrorServerCertificateNotYetValid, NSURLErrorServerCertificateHasUnknownRoot:
            return "TLS connection failed (check the system certificates)"
        default: return "\(error.localizedDescription) (code \(code))"
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            callbackError = HubError.network("\(response.url?.absoluteString ?? "?"): not an HTTP response")
            completionHandler(.cancel)
            return
        }
        self.response = http
        do {
            try onResponse(http)
            completionHandler(.allow)
        } catch {
            callbackError = error
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard callbackError == nil else { return }
        do {
            try onData(data)
        } catch {
            callbackError = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error, callbackError == nil { transportError = error }
        // A redirect we declined completes without a didReceive(response:) on some platforms.
        if response == nil, let http = task.response as? HTTPURLResponse { response = http }
        finished.signal()
    }
}

extension HTTPURLResponse {
    /// Header value, case-insensitive.
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for (key, value) in allHeaderFields {
            if let key = key as? String, key.lowercased() == lower { return value as? String }
        }
        return nil
    }
}

extension URL {
    /// scheme://host:port, the unit an Authorization header may be sent to.
    var hubOrigin: String {
        let scheme = (self.scheme ?? "").lowercased()
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\((host ?? "").lowercased()):\(port ?? defaultPort)"
    }
}
