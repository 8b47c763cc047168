import Foundation
import MultipartKit
import NIOCore

/// A `multipart/form-data` upload read from a body stream with hard limits: the total size is
/// checked on every chunk, so an oversized upload is refused while it is read, never after buffering.
struct MultipartUpload: Sendable {
    var file: [UInt8]?
    var filename: String?
    /// The text fields (`model`, `prompt`, `response_format`, ...), each at most `maxFieldBytes`.
    var fields: [String: String] = [:]

    static let maxFieldBytes = 64 * 1024

    enum Failure: Error, Equatable {
        case notMultipart
        case missingBoundary
        case tooLarge(limit: Int)
        case malformed(String)
        case incomplete
        case fieldTooLarge(String)
        case duplicateFile
    }

    /// The boundary of a `multipart/form-data` Content-Type (quoted or not, 1 to 70 characters).
    static func boundary(contentType: String?) throws(Failure) -> String {
        guard let contentType else { throw .notMultipart }
        let params = HeaderParameters(contentType)
        guard params.value.lowercased() == "multipart/form-data" else { throw .notMultipart }
        guard let b = params["boundary"], (1...70).contains(b.utf8.count) else { throw .missingBoundary }
        return b
    }

    /// Reads the whole form from `body`.
    static func read<Body: AsyncSequence>(_ body: Body, boundary: String, maxBytes: Int) async throws -> MultipartUpload
        where Body.Element == ByteBuffer {
        let collector = PartCollector()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in collector.header(name, value) }
        parser.onBody = { buffer in collector.body(&buffer) }
        parser.onPartComplete = { collector.partComplete() }
        var total = 0
        // The body is gathered (with the running size check) and checked before MultipartKit parses it:
        // MultipartKit traps on a byte above 0x7F in a header name, which would take the whole server down
        // (found by Fuzz/Sources/FuzzServerRequest; see multipartParserWouldTrap).
        var whole = ByteBuffer()
        do {
            for try await var chunk in body {
                total += chunk.readableBytes
                if total > maxBytes { throw Failure.tooLarge(limit: maxBytes) }
                whole.writeBuffer(&chunk)
            }
            if whole.withUnsafeReadableBytes({ multipartParserWouldTrap($0, boundary: Array(boundary.utf8)) }) {
                throw Failure.malformed("a part header name holds a byte that is not ASCII")
            }
            do {
                try parser.execute(whole)
            } catch {
                throw Failure.malformed("the multipart body does not follow its boundary and part headers")
            }
            if let f = collector.failure { throw f }
        } catch let f as Failure {
            throw f
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The connection failed or closed before the body ended.
            throw Failure.incomplete
        }
        if let f = collector.failure { throw f }
        guard collector.sawClosedPart else {
            throw total == 0 ? Failure.malformed("the request body is empty") : Failure.incomplete
        }
        if collector.partOpen { throw Failure.incomplete }
        return collector.upload
    }
}

/// Whether MultipartKit's parser, given `b` in one piece, would read a byte above 0x7F as part of a header
/// name: its header-name table has 128 entries and indexing it with such a byte traps, taking the whole server
/// down. This runs the same state machine as `MultipartParser` (MultipartKit 4, `MultipartParser.swift`), state
/// for state, but only keeps what decides where header names are read; it stops where the parser would throw
/// (a syntax error, which the caller reports as malformed) or finish. Two earlier checks that guessed the
/// header positions from line structure were each beaten by the fuzzer (Fuzz/Sources/FuzzServerRequest).
func multipartParserWouldTrap(_ b: UnsafeRawBufferPointer, boundary: [UInt8]) -> Bool {
    let delimiter = Array("\r\n--".utf8) + boundary
    let n = delimiter.count
    let cr: UInt8 = 13, lf: UInt8 = 10, colon: UInt8 = 58, hyphen: UInt8 = 45
    enum State {
        case preamble(Int), preHeadersCR, preHeadersLF, headerName(empty: Bool), headerValue, postHeaderValue,
             postHeaders, body, boundary(Int), epilogue
    }
    var state = State.preamble(0)
    var i = 0
    while i < b.count {
        let byte = b[i]
        switch state {
        case .preamble(let m):
            // The parser's preamble loop: the leading CRLF may be skipped; a mismatch restarts at 0 or 1.
            let next: Int
            if m == 0, byte == delimiter[2] { next = 3 }
            else if byte == delimiter[m] { next = m + 1 }
            else if m > 0, byte == delimiter[0] { next = 1 }
            else { next = 0 }
            i += 1
            state = next >= n ? .preHeadersCR : .preamble(next)
        case .preHeadersCR:
            guard byte == cr else { return false }
            i += 1
            state = .preHeadersLF
        case .preHeadersLF:
            guard byte == lf else { return false }
            i += 1
            state = .headerName(empty: true)
        case .headerName(let empty):
            i += 1
            if byte == colon && !empty { state = .headerValue }
            else if byte == cr && empty { state = .postHeaders }
            else if byte > 0x7F { return true }
            else if headerNameAllowed(byte) { state = .headerName(empty: false) }
            else { return false }
        case .headerValue:
            i += 1
            if byte == cr { state = .postHeaderValue }
        case .postHeaderValue:
            guard byte == lf else { return false }
            i += 1
            state = .headerName(empty: true)
        case .postHeaders:
            guard byte == lf else { return false }
            i += 1
            state = .body
        case .body:
            // Body bytes up to (not including) the delimiter's first byte.
            while i < b.count, b[i] != delimiter[0] { i += 1 }
            if i < b.count { state = .boundary(0) }
        case .boundary(let m):
            i += 1
            if m >= n {
                if byte == cr { state = .preHeadersLF }
                else if byte == hyphen { state = .epilogue }
                else { return false }
            } else if byte == delimiter[m] {
                state = .boundary(m + 1)
            } else {
                state = byte == delimiter[0] ? .boundary(1) : .body
            }
        case .epilogue:
            return false
        }
    }
    return false
}

/// RFC 822 field-name characters, as MultipartKit's table has them (ASCII only; the caller handles the rest).
private func headerNameAllowed(_ byte: UInt8) -> Bool {
    guard byte > 32, byte < 127 else { return false }
    return !Array("()<>@,;:\\\"/[]?={}".utf8).contains(byte)
}

/// Builds parts from the parser's callbacks.
private final class PartCollector: @unchecked Sendable {
    var upload = MultipartUpload()
    var failure: MultipartUpload.Failure?
    var sawClosedPart = false
    var partOpen = false
    private var headers: [(String, String)] = []
    private var kind: Kind?
    private var bytes: [UInt8] = []

    enum Kind { case file(String?), field(String), ignored }

    func header(_ name: String, _ value: String) {
        partOpen = true
        if headers.count < 32 { headers.append((name, value)) } else { failure = .malformed("a part has too many headers") }
    }

    func body(_ buffer: inout ByteBuffer) {
        partOpen = true
        if kind == nil { kind = resolveKind() }
        switch kind {
        case .file?:
            bytes.append(contentsOf: buffer.readableBytesView)
        case .field(let name)?:
            if bytes.count + buffer.readableBytes > MultipartUpload.maxFieldBytes {
                failure = .fieldTooLarge(name)
            } else {
                bytes.append(contentsOf: buffer.readableBytesView)
            }
        default:
            break
        }
    }

    func partComplete() {
        if kind == nil { kind = resolveKind() }
        switch kind {
        case .file(let filename)?:
            if upload.file != nil { failure = .duplicateFile }
            upload.file = bytes
            upload.filename = filename
        case .field(let name)?:
            upload.fields[name] = String(decoding: bytes, as: UTF8.self)
        default:
            break
        }
        sawClosedPart = true
        partOpen = false
        headers = []
        kind = nil
        bytes = []
    }

    private func resolveKind() -> Kind {
        guard let disposition = headers.first(where: { $0.0.lowercased() == "content-disposition" })?.1 else {
            return .ignored
        }
        let params = HeaderParameters(disposition)
        guard params.value.lowercased() == "form-data", let name = params["name"] else { return .ignored }
        if name == "file" { return .file(params["filename"]) }
        return .field(name)
    }
}

/// `value; key=token; key="quoted \" string"` as in Content-Type and Content-Disposition.
struct HeaderParameters {
    var value: String
    private var params: [String: String] = [:]

    subscript(key: String) -> String? { params[key.lowercased()] }

    init(_ header: String) {
        let scalars = Array(header.unicodeScalars)
        var i = 0
        func skipSpaces() { while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" { i += 1 } }
        var head = ""
        while i < scalars.count, scalars[i] != ";" { head.unicodeScalars.append(scalars[i]); i += 1 }
        value = head.trimmingCharacters(in: .whitespaces)
        while i < scalars.count {
            i += 1                                  // the ';'
            skipSpaces()
            var key = ""
            while i < scalars.count, scalars[i] != "=", scalars[i] != ";" { key.unicodeScalars.append(scalars[i]); i += 1 }
            guard i < scalars.count, scalars[i] == "=" else { continue }
            i += 1
            skipSpaces()
            var v = ""
            if i < scalars.count, scalars[i] == "\"" {
                i += 1
                while i < scalars.count, scalars[i] != "\"" {
                    if scalars[i] == "\\", i + 1 < scalars.count { i += 1 }
                    v.unicodeScalars.append(scalars[i])
                    i += 1
                }
                i += 1                              // the closing quote
                while i < scalars.count, scalars[i] != ";" { i += 1 }
            } else {
                while i < scalars.count, scalars[i] != ";" { v.unicodeScalars.append(scalars[i]); i += 1 }
                v = v.trimmingCharacters(in: .whitespaces)
            }
            let k = key.trimmingCharacters(in: .whitespaces).lowercased()
            if !k.isEmpty, params[k] == nil { params[k] = v }
        }
    }
}
