import Foundation
import NIOCore

/// The parsing of a `POST /v1/audio/transcriptions` request without a socket: its Content-Type, its
/// `multipart/form-data` body (in the chunks it arrived in) and the form fields, through the same functions
/// the route calls between its other checks (readiness, declared length, a scheduler place). It exists so
/// that the parsing can be fuzzed and tested alone; it decodes no audio.
public enum TranscriptionRequestParsing {
    /// A request whose form was read and whose fields passed their checks.
    public struct Form: Sendable, Equatable {
        /// The `file` part's bytes, if there was one.
        public var file: [UInt8]?
        public var filename: String?
        /// Every text field as read (at most 64 KiB each before decoding as UTF-8).
        public var fields: [String: String]
        public var responseFormat: String
        public var temperature: Float
        public var stream: Bool
        public var prompt: String?
    }

    /// A refusal, as the client would get it: the HTTP status and the JSON body.
    public struct Refusal: Error, Sendable, Equatable {
        public var status: Int
        public var code: String
        public var body: String
    }

    /// The largest field the form reader keeps.
    public static var maxFieldBytes: Int { MultipartUpload.maxFieldBytes }

    /// Parses a request the way the route does.
    public static func parse(contentType: String?, chunks: [[UInt8]], maxBytes: Int) async -> Result<Form, Refusal> {
        func refusal(_ e: APIError) -> Refusal { Refusal(status: Int(e.status.code), code: e.code, body: e.json) }
        let boundary: String
        do {
            boundary = try MultipartUpload.boundary(contentType: contentType)
        } catch {
            return .failure(refusal(TranscriptionRoute.apiError(error)))
        }
        let upload: MultipartUpload
        do {
            upload = try await MultipartUpload.read(Chunks(chunks), boundary: boundary, maxBytes: maxBytes)
        } catch let f as MultipartUpload.Failure {
            return .failure(refusal(TranscriptionRoute.apiError(f)))
        } catch {
            return .failure(refusal(.internal("\(error)")))
        }
        do {
            let p = try TranscriptionParameters(fields: upload.fields)
            return .success(Form(file: upload.file, filename: upload.filename, fields: upload.fields,
                                 responseFormat: p.format.rawValue, temperature: p.temperature, stream: p.stream,
                                 prompt: p.prompt))
        } catch {
            return .failure(refusal(error))
        }
    }

    /// A body that has already arrived, as the async sequence of buffers the form reader takes.
    private struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: [[UInt8]]
        init(_ chunks: [[UInt8]]) { self.chunks = chunks }

        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: ArraySlice<[UInt8]>
            mutating func next() async -> ByteBuffer? {
                guard let c = rest.popFirst() else { return nil }
                return ByteBuffer(bytes: c)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: chunks[...]) }
    }
}
