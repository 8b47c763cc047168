import Foundation
import XCTest
@testable import VibeVoiceServer
import VibeVoiceText

/// Each error status, OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`.
final class ServerErrorTests: XCTestCase {
    func quickServer(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (ServerHarness, ScriptedEngine) {
        let engine = ScriptedEngine(.segments([]))
        let h = try ServerHarness(configure: configure) { engine.worker(maxQueue: 4) }
        try h.waitUntilReady()
        return (h, engine)
    }

    func assertError(_ r: RawHTTP.Reply, _ status: Int, _ code: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        XCTAssertEqual(r.headers["content-type"], "application/json", file: file, line: line)
        let error = r.json["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, code, r.text, file: file, line: line)
        XCTAssertFalse((error?["message"] as? String ?? "").isEmpty, file: file, line: line)
        XCTAssertNotNil(error?["type"] as? String, file: file, line: line)
    }

    func testAPIKeyIsRequiredOnV1Only() async throws {
        let (h, _) = try quickServer { $0.apiKey = "s3cret-key" }
        let port = h.port
        let form = MultipartForm(file: toneWAV())
        let missing = try RawHTTP.transcribe(port: port, form: form)
        assertError(missing, 401, "invalid_api_key")
        XCTAssertEqual(missing.headers["www-authenticate"], "Bearer")
        assertError(try RawHTTP.transcribe(port: port, form: form, headers: ["Authorization": "Bearer s3cret-kez"]), 401, "invalid_api_key")
        assertError(try RawHTTP.transcribe(port: port, form: form, headers: ["Authorization": "Bearer s3cret-key-longer"]), 401, "invalid_api_key")
        assertError(try RawHTTP.transcribe(port: port, form: form, headers: ["Authorization": "Basic s3cret-key"]), 401, "invalid_api_key")
        assertError(try RawHTTP.request(port: port, path: "/v1/models"), 401, "invalid_api_key")
        XCTAssertEqual(try RawHTTP.transcribe(port: port, form: form, headers: ["Authorization": "Bearer s3cret-key"]).status, 200)
        XCTAssertEqual(try RawHTTP.request(port: port, path: "/health").status, 200, "health needs no key")
        XCTAssertEqual(try RawHTTP.request(port: port, path: "/metrics").status, 200, "metrics need no key")
        XCTAssertTrue(RequestGate.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(RequestGate.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(RequestGate.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(RequestGate.constantTimeEqual([], Array("a".utf8)))
        await h.stop()
    }

    func testBadRequests() async throws {
        let (h, engine) = try quickServer()
        let port = h.port
        let wav = toneWAV()
        func post(_ form: MultipartForm) throws -> RawHTTP.Reply { try RawHTTP.transcribe(port: port, form: form) }

        assertError(try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                        headers: ["Content-Type": "application/json"], body: Data("{}".utf8)),
                    400, "invalid_content_type")
        assertError(try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                        headers: ["Content-Type": "multipart/form-data"], body: Data("x".utf8)),
                    400, "missing_boundary")
        assertError(try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                        headers: ["Content-Type": "multipart/form-data; boundary="], body: Data("x".utf8)),
                    400, "missing_boundary")
        assertError(try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                        headers: ["Content-Type": "multipart/form-data; boundary=abc"],
                                        body: Data("--abc\r\nno colon here\r\n\r\nbody\r\n--abc--\r\n".utf8)),
                    400, "malformed_multipart")
        assertError(try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                        headers: ["Content-Type": "multipart/form-data; boundary=abc"]),
                    400, "malformed_multipart")
        assertError(try post(MultipartForm(file: nil, fields: ["model": "whisper-1"])), 400, "missing_file")
        assertError(try post(MultipartForm(file: Data())), 400, "empty_file")
        assertError(try post(MultipartForm(file: Data("this is not audio at all, only text".utf8), filename: "speech.wav")),
                    400, "invalid_audio")
        assertError(try post(MultipartForm(file: Data(repeating: 0xAB, count: 5000), filename: "noise.wav")),
                    400, "invalid_audio")
        assertError(try post(MultipartForm(file: wav, fields: ["response_format": "mp3"])), 400, "invalid_response_format")
        assertError(try post(MultipartForm(file: wav, fields: ["temperature": "hot"])), 400, "invalid_temperature")
        assertError(try post(MultipartForm(file: wav, fields: ["temperature": "3"])), 400, "invalid_temperature")
        assertError(try post(MultipartForm(file: wav, fields: ["stream": "maybe"])), 400, "invalid_stream")
        assertError(try post(MultipartForm(file: wav, fields: ["prompt": String(repeating: "x", count: 70_000)])),
                    400, "field_too_large")
        var two = MultipartForm(file: wav)
        two.parts.append(("file", "b.wav", wav))
        assertError(try post(two), 400, "duplicate_file")
        assertError(try RawHTTP.request(port: port, path: "/v1/nothing-here"), 404, "not_found")
        XCTAssertEqual(engine.counts().started, 0, "no bad request reached the model")
        XCTAssertEqual(h.scheduler?.load.waiting, 0, "every refused request gave its place back")
        await h.stop()
    }

    func testAudioLongerThanTheLimitIsRefused() async throws {
        let (h, engine) = try quickServer { $0.maxAudioSeconds = 0.25 }
        assertError(try RawHTTP.transcribe(port: h.port, form: MultipartForm(file: toneWAV(seconds: 0.5))), 400, "audio_too_long")
        XCTAssertEqual(engine.counts().started, 0)
        await h.stop()
    }

    /// 413 while reading: a declared length over the limit is refused before any body byte is sent,
    /// and a chunked upload is cut off once it passes the limit.
    func testUploadTooLargeIsRefusedWhileReading() async throws {
        let (h, _) = try quickServer { $0.maxUploadBytes = 100_000 }
        let c = try RawHTTP(port: h.port, receiveTimeout: 10)
        c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
               + "Content-Length: 5000000000\r\n\r\n")
        let early = try RawHTTP.parse(c.read(until: "}\n"))
        assertError(early, 413, "file_too_large")

        let chunked = try RawHTTP(port: h.port, receiveTimeout: 10)
        chunked.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     + "Transfer-Encoding: chunked\r\n\r\n")
        let piece = Data(repeating: 0x41, count: 16_384)
        var sentBytes = 0
        var answer = Data()
        while sentBytes < 10_000_000 {
            var frame = Data(String(piece.count, radix: 16).utf8) + Data("\r\n".utf8)
            frame += piece + Data("\r\n".utf8)
            guard chunked.send(frame) else { break }
            sentBytes += piece.count
            if sentBytes > 200_000 { answer = chunked.read(until: "}\n"); break }
        }
        assertError(try RawHTTP.parse(answer), 413, "file_too_large")
        XCTAssertLessThan(sentBytes, 1_000_000, "refused long before the upload ended")
        XCTAssertEqual(h.scheduler?.load.waiting, 0)
        await h.stop()
    }

    func testNotReadyIs503() async throws {
        let gate = DispatchSemaphore(value: 0)
        let engine = ScriptedEngine(.segments([]))
        let h = try ServerHarness { gate.wait(); return engine.worker(maxQueue: 1) }
        let health = try RawHTTP.request(port: h.port, path: "/health")
        XCTAssertEqual(health.status, 503)
        XCTAssertEqual(health.json["status"] as? String, "loading")
        let r = try RawHTTP.transcribe(port: h.port, form: MultipartForm(file: toneWAV()))
        assertError(r, 503, "model_loading")
        XCTAssertNotNil(r.headers["retry-after"])
        gate.signal()
        try h.waitUntilReady()
        XCTAssertEqual(try RawHTTP.request(port: h.port, path: "/health").status, 200)
        await h.stop()
    }

    func testModelLoadFailureEndsRun() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "no config.json in /nowhere" } }
        let h = try ServerHarness { throw Broken() }
        XCTAssertTrue(eventually { if case .failed = h.server.state.current { return true } else { return false } })
        let outcome = await h.stop()
        guard case .failure(let e) = outcome else { return XCTFail("run returned normally") }
        XCTAssertTrue("\(e)".contains("config.json"), "\(e)")
    }
}
