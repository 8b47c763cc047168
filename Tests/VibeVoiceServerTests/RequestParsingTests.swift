import XCTest
import VibeVoiceServer

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
}
