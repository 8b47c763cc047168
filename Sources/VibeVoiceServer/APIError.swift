import Foundation
import HTTPTypes
import Hummingbird
import VibeVoiceText

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var code: String
    var param: String?
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String, code: String, param: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", code: code, param: param)
    }

    static func unauthorized(_ message: String) -> APIError {
        var e = APIError(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
        e.headers[.wwwAuthenticate] = "Bearer"
        return e
    }

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge,
                 message: "the upload is larger than this server's limit of \(limit) bytes (--max-upload-mb); send a shorter or more compressed file",
                 type: "invalid_request_error", code: "file_too_large", param: "file")
    }

    static func queueFull(retryAfter: Int) -> APIError {
        var e = APIError(status: .tooManyRequests,
                         message: "the server is busy: every transcription slot and queue place is taken; retry after \(retryAfter) s",
                         type: "rate_limit_error", code: "queue_full")
        e.headers[.retryAfter] = String(retryAfter)
        return e
    }

    static func unavailable(_ message: String, code: String, retryAfter: Int? = nil) -> APIError {
        var e = APIError(status: .serviceUnavailable, message: message, type: "server_error", code: code)
        if let retryAfter { e.headers[.retryAfter] = String(retryAfter) }
        return e
    }

    static func timeout(seconds: Double) -> APIError {
        APIError(status: .gatewayTimeout,
                 message: "the transcription did not finish within the server's request timeout of \(Self.format(seconds)) s (--request-timeout); send shorter audio",
                 type: "server_error", code: "timeout")
    }

    static func uploadTimeout(seconds: Double) -> APIError {
        APIError(status: .requestTimeout,
                 message: "the upload did not arrive within the server's request timeout of \(Self.format(seconds)) s",
                 type: "invalid_request_error", code: "upload_timeout")
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, message: "no endpoint \(path); see GET /v1/models, POST /v1/audio/transcriptions",
                 type: "invalid_request_error", code: "not_found")
    }

    static func `internal`(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: "internal_error")
    }

    /// `{"message", "type", "param", "code"}`.
    var errorObject: String {
        "{\"message\": \(JSONText.string(message)), \"type\": \(JSONText.string(type)), "
            + "\"param\": \(param.map(JSONText.string) ?? "null"), \"code\": \(JSONText.string(code))}"
    }

    /// The JSON body.
    var json: String { "{\"error\": \(errorObject)}\n" }

    var response: Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(x)
    }
}

/// JSON string literals for the few bodies the server writes itself.
enum JSONText {
    static func string(_ s: String) -> String { TranscriptRenderer.jsonStringLiteral(s) }
}
