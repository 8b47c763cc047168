import XCTest
@testable import VibeVoiceServer

/// The request parsing alone (what `Fuzz/Sources/FuzzServerRequest` fuzzes): the same form whatever the
/// chunking, and refusals in OpenAI's error shape.
final class RequestParsingTests: XCTestCase {
    private func form(_ boundary: String, _ parts: [(String, [UInt8])], close: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for (disposition, body) in parts {
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; \(disposition)\r\n\r\n".utf8) + body + Array("\r\n".utf8)
        }
        if close { out += Array("--\(boundary)--\r\n".utf8) }
        return out
    }

    private func chunks(_ body: [UInt8], _ size: Int) -> [[UInt8]] {
        stride(from: 0, to: body.count, by: size).map { Array(body[$0..<min(body.count, $0 + size)]) }
    }

    func testAFormReadsTheSameInEveryChunking() async throws {
        let audio = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let body = form("b0und", [("name=\"response_format\"", Array("srt".utf8)), ("name=\"stream\"", Array("true".utf8)),
                                  ("name=\"prompt\"", Array(" Ada, Grace ".utf8)),
                                  ("name=\"file\"; filename=\"talk.m4a\"", audio)])
        var forms: [TranscriptionRequestParsing.Form] = []
        for size in [1, 2, 7, 64, 1000, body.count] {
            let r = await TranscriptionRequestParsing.parse(contentType: "multipart/form-data; boundary=\"b0und\"",
                                                            chunks: chunks(body, size), maxBytes: 1 << 20)
            forms.append(try r.get())
        }
        XCTAssertEqual(forms[0].file, audio)
        XCTAssertEqual(forms[0].filename, "talk.m4a")
        XCTAssertEqual(forms[0].responseFormat, "srt")
        XCTAssertTrue(forms[0].stream)
        XCTAssertEqual(forms[0].prompt, "Ada, Grace")
        for f in forms.dropFirst() { XCTAssertEqual(f, forms[0]) }
    }

    func testRefusalsAreClientErrorsInOpenAIShape() async throws {
        let ok = form("q", [("name=\"file\"; filename=\"a.wav\"", [1, 2, 3])])
        let cases: [(String?, [UInt8], Int, Int, String)] = [
            (nil, ok, 1 << 20, 400, "invalid_content_type"),
            ("application/json", ok, 1 << 20, 400, "invalid_content_type"),
            ("multipart/form-data", ok, 1 << 20, 400, "missing_boundary"),
            ("multipart/form-data; boundary=q", ok, 10, 413, "file_too_large"),
            ("multipart/form-data; boundary=q", form("q", [("name=\"file\"", [1])], close: false), 1 << 20, 400, "incomplete_upload"),
            // Bytes before the first boundary are a preamble (RFC 2046), so a body with no boundary is cut short.
            ("multipart/form-data; boundary=q", Array("garbage".utf8), 1 << 20, 400, "incomplete_upload"),
            ("multipart/form-data; boundary=q", Array("--q\r\nno colon in this header\r\n\r\nx\r\n--q--\r\n".utf8), 1 << 20, 400,
             "malformed_multipart"),
            // A byte above 0x7F in a header name (fuzzer finding: it trapped inside MultipartKit).
            ("multipart/form-data; boundary=q", Array("--q\r\nContent-Dispo".utf8) + [0xE9] + Array("ition: form-data; name=\"file\"\r\n\r\nx\r\n--q--\r\n".utf8),
             1 << 20, 400, "malformed_multipart"),
            // The same after a preamble that does not end in a line break (the fuzzer's second form of it).
            ("multipart/form-data; boundary=q", [0, 0, 0] + Array("--q\r\nContent-Dispo".utf8) + [0xC2, 0xC2] + Array("tion: form-data; name=\"file\"\r\n\r\nx\r\n--q--\r\n".utf8),
             1 << 20, 400, "malformed_multipart"),
            ("multipart/form-data; boundary=q", form("q", [("name=\"temperature\"", Array("nan".utf8))]), 1 << 20, 400, "invalid_temperature"),
            ("multipart/form-data; boundary=q", form("q", [("name=\"prompt\"", [UInt8](repeating: 65, count: 70_000))]), 1 << 20, 400, "field_too_large"),
            ("multipart/form-data; boundary=q", form("q", [("name=\"file\"", [1]), ("name=\"file\"", [2])]), 1 << 20, 400, "duplicate_file"),
        ]
        for (contentType, body, limit, status, code) in cases {
            for size in [3, body.count] {
                let r = await TranscriptionRequestParsing.parse(contentType: contentType, chunks: chunks(body, size), maxBytes: limit)
                guard case .failure(let refusal) = r else { XCTFail("\(code): accepted"); continue }
                XCTAssertEqual(refusal.status, status, code)
                XCTAssertEqual(refusal.code, code)
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(refusal.body.utf8)) as? [String: Any])
                let error = try XCTUnwrap(object["error"] as? [String: Any])
                XCTAssertEqual(error["code"] as? String, code)
                XCTAssertFalse((error["message"] as? String ?? "").isEmpty)
            }
        }
    }

    /// Fuzzing finding (FuzzServerRequest, third form of the MultipartKit header-name trap): a delimiter followed
    /// by a bare CR and more text, after which the parser read a body byte above 0x7F as a header name. The file is
    /// the harness's input (the Content-Type line, a newline, the body); it must be refused, not crash the process.
    func testFuzzedBodyThatReachedTheHeaderNameTrapIsRefused() async throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/server-header-trap-3.txt")
        let bytes = Array(try Data(contentsOf: url))
        let newline = try XCTUnwrap(bytes.firstIndex(of: 0x0A))
        let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = Array(bytes[(newline + 1)...])
        XCTAssertTrue(body.withUnsafeBytes { multipartParserWouldTrap($0, boundary: Array("XyZ123".utf8)) })
        for size in [1, 5, body.count] {
            let r = await TranscriptionRequestParsing.parse(contentType: contentType, chunks: chunks(body, size), maxBytes: 1 << 20)
            guard case .failure(let refusal) = r else { XCTFail("accepted"); continue }
            XCTAssertEqual(refusal.code, "malformed_multipart")
        }
    }

    /// The check follows MultipartKit's states, not line structure: a byte above 0x7F is harmless in a part body,
    /// a header value and the preamble, and caught in a header name wherever the parser reaches one.
    func testTrapCheckFollowsTheParserStates() {
        func traps(_ text: [UInt8]) -> Bool { text.withUnsafeBytes { multipartParserWouldTrap($0, boundary: Array("q".utf8)) } }
        let hi: [UInt8] = [0xE9]
        let head = Array("--q\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".utf8)
        XCTAssertFalse(traps(hi + head + hi + Array("\r\n--q--\r\n".utf8)), "preamble and body")
        XCTAssertFalse(traps(Array("--q\r\nX: ".utf8) + hi + Array("\r\n\r\nbody\r\n--q--".utf8)), "header value")
        XCTAssertTrue(traps(Array("--q\r\nX".utf8) + hi), "first header name")
        XCTAssertTrue(traps(head + Array("x\r\n--q\r\nA: b\r\n".utf8) + hi), "second part's second header")
        // A delimiter inside a body that is not preceded by CRLF is body text; one that is starts the next part.
        XCTAssertFalse(traps(head + Array("x--q\r\n".utf8) + hi + Array(":v\r\n\r\n\r\n--q--".utf8)))
        XCTAssertTrue(traps(head + Array("x\r\n--q\r\n".utf8) + hi + Array(":v\r\n\r\n\r\n--q--".utf8)))
        // Where the parser throws first (a syntax error), it never reaches the later byte.
        XCTAssertFalse(traps(Array("--q\r\nbad name\r\n".utf8) + hi))
        XCTAssertFalse(traps(Array("--q\r\nX: v\r\n\r\nbody\r\n--q--\r\n--q\r\n".utf8) + hi), "epilogue")
    }
}
