import Foundation
import Hummingbird
import Logging

/// What the request log and metrics need to know about one request, filled in as it is handled.
final class RequestStats: Sendable {
    let audioSeconds = Locked<Double?>(nil)
    /// Set when the client left or the request was cut short (logged as `outcome`).
    let outcome = Locked<String?>(nil)
    /// A streamed response logs itself when its last byte is written.
    let deferred = Locked(false)
}

struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let stats = RequestStats()
    let requestID: String
    let started = ContinuousClock.now

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = RequestCounter.next()
    }
}

enum RequestCounter {
    private static let count = Locked(0)

    static func next() -> String {
        "req_\(count.update { n -> Int in n += 1; return n })"
    }
}

/// One log line per request (id, method, path, status, audio seconds, latency; never audio, prompts or
/// keys), the request counters, the API key check on /v1/*, and OpenAI-shaped errors for everything
/// the router throws.
struct RequestGate: RouterMiddleware {
    typealias Context = ServerContext
    let apiKey: [UInt8]?
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: ServerContext,
                next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        var response: Response
        if request.uri.path.hasPrefix("/v1/"), let apiKey, !Self.authorized(request, key: apiKey) {
            response = APIError.unauthorized(
                request.headers[.authorization] == nil
                    ? "no API key: send the header 'Authorization: Bearer <key>'"
                    : "the API key is not valid for this server").response
        } else {
            do {
                response = try await next(request, context)
            } catch let e as APIError {
                response = e.response
            } catch is CancellationError {
                context.stats.outcome.value = "client_gone"
                response = APIError(status: .init(code: 499, reasonPhrase: "Client Closed Request"),
                                    message: "the client closed its side of the connection before the response (upload cut short, or client gone)",
                                    type: "invalid_request_error", code: "client_closed").response
            } catch let e as HTTPError where e.status == .notFound {
                response = APIError.notFound(request.uri.path).response
            } catch let e as HTTPError {
                response = APIError(status: e.status, message: e.body ?? e.status.reasonPhrase,
                                    type: "invalid_request_error", code: "http_\(e.status.code)").response
            } catch {
                response = APIError.internal("internal error: \(error)").response
            }
        }
        response.headers[.init("x-request-id")!] = context.requestID
        if !context.stats.deferred.value {
            Self.finish(request: request, context: context, status: response.status.code, metrics: metrics, logger: logger)
        }
        return response
    }

    /// Logs and counts a finished request.
    static func finish(request: Request, context: ServerContext, status: Int, metrics: ServerMetrics, logger: Logger) {
        let seconds = (ContinuousClock.now - context.started) / .seconds(1)
        let path = request.uri.path
        let known = ["/v1/audio/transcriptions", "/v1/models", "/health", "/metrics"]
        metrics.recordRequest(endpoint: known.contains(path) ? path : "other", status: status, seconds: seconds,
                              transcription: path == "/v1/audio/transcriptions" && request.method == .post)
        var meta: Logger.Metadata = [
            "id": "\(context.requestID)", "method": "\(request.method)", "path": "\(path)", "status": "\(status)",
            "latency_ms": "\(Int((seconds * 1000).rounded()))",
        ]
        if let a = context.stats.audioSeconds.value { meta["audio_seconds"] = "\(String(format: "%.2f", a))" }
        if let o = context.stats.outcome.value { meta["outcome"] = "\(o)" }
        logger.info("request", metadata: meta)
    }

    /// `Authorization: Bearer <key>`, compared in constant time (for keys of the same length).
    static func authorized(_ request: Request, key: [UInt8]) -> Bool {
        guard let header = request.headers[.authorization] else { return false }
        let prefix = "bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix(prefix) else { return false }
        let given = Array(header.utf8.dropFirst(prefix.utf8.count))
        return constantTimeEqual(given, key)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
