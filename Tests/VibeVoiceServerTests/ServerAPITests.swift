import Foundation
import XCTest
@testable import VibeVoiceServer

/// Every endpoint and response format over real HTTP on loopback, with the tiny bf16 reference checkpoint
/// (transformers 5.23.0, scripts/make_engine_fixtures.py): generated ids must equal the reference's.
final class ServerAPITests: XCTestCase {
    nonisolated(unsafe) static var harness: ServerHarness!
    var port: Int { Self.harness.port }

    override class func setUp() {
        harness = try? ServerHarness.realModel(maxQueue: 20)
    }

    override func setUpWithError() throws {
        if Self.harness == nil { throw RawHTTP.Failure("the test server did not start") }
    }

    override class func tearDown() {
        guard let h = harness else { return }
        let done = DispatchSemaphore(value: 0)
        Task { await h.stop(); done.signal() }
        done.wait()
        harness = nil
    }

    /// The greedy ids transformers generated for the fixture clip (24 tokens).
    static let referenceIDs: [Int] = {
        let ref = try! Data(contentsOf: ServerHarness.fixtures.appendingPathComponent("hf_bf16_chunked/reference.safetensors"))
        let n = Int(ref.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try! JSONSerialization.jsonObject(with: ref.subdata(in: 8..<(8 + n))) as! [String: Any]
        let off = (header["generated_ids"] as! [String: Any])["data_offsets"] as! [Int]
        return ref.subdata(in: (8 + n + off[0])..<(8 + n + off[1])).withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    }()

    var audio: Data { try! Data(contentsOf: ServerHarness.audio) }

    func testHealthModelsAndMetrics() throws {
        let health = try RawHTTP.request(port: port, path: "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "ok")

        let models = try RawHTTP.request(port: port, path: "/v1/models")
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual(models.json["object"] as? String, "list")
        let data = try XCTUnwrap(models.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.first?["object"] as? String, "model")
        XCTAssertEqual(data.first?["id"] as? String, "microsoft/VibeVoice-ASR-HF")

        _ = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio))
        let metrics = try RawHTTP.request(port: port, path: "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") ?? false)
        let text = metrics.text
        for family in ["vibevoice_requests_total", "vibevoice_request_duration_seconds", "vibevoice_queue_depth",
                       "vibevoice_audio_seconds_total", "vibevoice_generated_tokens_total"] {
            XCTAssertTrue(text.contains("# TYPE \(family) "), family)
        }
        XCTAssertTrue(text.contains("vibevoice_requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"200\"}"), text)
        XCTAssertTrue(text.contains("vibevoice_request_duration_seconds_bucket{le=\"+Inf\"}"), text)
        let generated = text.split(separator: "\n").first { $0.hasPrefix("vibevoice_generated_tokens_total ") }
        XCTAssertGreaterThanOrEqual(Int(generated?.split(separator: " ").last ?? "") ?? 0, 24)
        XCTAssertTrue(text.contains("vibevoice_model_ready 1"))
    }

    func testEveryResponseFormat() throws {
        func ask(_ format: String) throws -> RawHTTP.Reply {
            let r = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio, fields: ["response_format": format,
                                                                                               "model": "whisper-1"]))
            XCTAssertEqual(r.status, 200, "\(format): \(r.text)")
            return r
        }
        let json = try ask("json")
        XCTAssertEqual(json.headers["content-type"], "application/json")
        let text = try XCTUnwrap(json.json["text"] as? String)
        let usage = try XCTUnwrap(json.json["usage"] as? [String: Any])
        XCTAssertEqual(usage["type"] as? String, "duration")
        XCTAssertEqual(usage["seconds"] as? Double ?? 0, 80434.0 / 24000, accuracy: 0.001)

        let verbose = try ask("verbose_json").json
        XCTAssertEqual(verbose["tokens"] as? [Int], Self.referenceIDs)
        XCTAssertEqual(verbose["text"] as? String, text)
        XCTAssertEqual(verbose["language"] as? String, "unknown")
        XCTAssertEqual(verbose["duration"] as? Double ?? 0, 3.351, accuracy: 0.0005)
        XCTAssertNotNil(verbose["segments"] as? [Any])
        XCTAssertNotNil(verbose["prompt_tokens"] as? Int)

        let diarized = try ask("diarized_json").json
        XCTAssertEqual(diarized["task"] as? String, "transcribe")
        XCTAssertEqual(diarized["text"] as? String, text)
        XCTAssertNotNil(diarized["segments"] as? [Any])

        let plain = try ask("text")
        XCTAssertTrue(plain.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertEqual(plain.text, TranscriptRendererProbe.text(text))

        let srt = try ask("srt")
        XCTAssertTrue(srt.text.hasPrefix("1\n00:00:00,000 --> 00:00:03,351\n"), srt.text)
        let vtt = try ask("vtt")
        XCTAssertTrue(vtt.text.hasPrefix("WEBVTT\n"), vtt.text)
        XCTAssertEqual(vtt.headers["content-type"], "text/vtt; charset=utf-8")
        let rttm = try ask("rttm")
        XCTAssertEqual(rttm.text, "", "the tiny random model writes no segment list, so no speaker turns")
    }

    /// 16 requests at once, decoded 4 at a time by the batch worker: every one completes, each with the
    /// reference's ids, which are also what `vibevoice-asr transcribe` gives for the same file.
    func testConcurrentRequestsAllGiveTheReferenceIDs() throws {
        let cli = try ServeBinary.runTranscribe(audio: ServerHarness.audio, model: ServerHarness.modelDir)
        XCTAssertEqual(cli, Self.referenceIDs)
        let n = 16
        let results = ResultsBox(count: n)
        let port = self.port
        let form = MultipartForm(file: audio, fields: ["response_format": "verbose_json"])
        DispatchQueue.concurrentPerform(iterations: n) { i in
            results.set(i, Result { try RawHTTP.transcribe(port: port, form: form) })
        }
        for (i, r) in results.all.enumerated() {
            let reply = try r.get()
            XCTAssertEqual(reply.status, 200, "request \(i): \(reply.text)")
            XCTAssertEqual(reply.json["tokens"] as? [Int], cli, "request \(i)")
        }
    }

    /// Uploads in the containers FFmpeg reads (an M4A whose index comes last, an MP4 and a WebM with video
    /// tracks) hold 64 kbit/s AAC and Opus renderings of the fixture clip, which give the reference's ids; a video
    /// without audio is a 400 that lists its streams.
    func testContainerUploads() throws {
        let containers = ServerHarness.fixtures.deletingLastPathComponent().appendingPathComponent("containers")
        for file in ["aac-moov-end.m4a", "aac-video.mp4", "opus-video.webm"] {
            let bytes = try Data(contentsOf: containers.appendingPathComponent(file))
            let reply = try RawHTTP.transcribe(port: port, form: MultipartForm(file: bytes, filename: file,
                                                                               fields: ["response_format": "verbose_json"]))
            XCTAssertEqual(reply.status, 200, "\(file): \(reply.text)")
            XCTAssertEqual(reply.json["tokens"] as? [Int], Self.referenceIDs, file)
        }
        let video = try Data(contentsOf: containers.appendingPathComponent("video-only.mp4"))
        let refused = try RawHTTP.transcribe(port: port, form: MultipartForm(file: video, filename: "screen.mp4"))
        XCTAssertEqual(refused.status, 400)
        let error = try XCTUnwrap(refused.json["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? String, "invalid_audio")
        XCTAssertEqual(error["message"] as? String, "screen.mp4: no audio stream to transcribe (streams: #0 video mpeg4)")
    }

    func testPromptIsUsedAsContext() throws {
        let plain = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio, fields: ["response_format": "verbose_json"]))
        let withPrompt = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio, fields: [
            "response_format": "verbose_json", "prompt": "Alice, Bob; topic: budget"]))
        let a = try XCTUnwrap(plain.json["prompt_tokens"] as? Int)
        let b = try XCTUnwrap(withPrompt.json["prompt_tokens"] as? Int)
        XCTAssertGreaterThan(b, a, "the prompt goes into the model's prompt as context")
    }

    /// The real model streamed: the done event carries the same text as the json answer.
    func testStreamingEndsWithTheWholeTranscript() throws {
        let json = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio)).json
        let reply = try RawHTTP.transcribe(port: port, form: MultipartForm(file: audio, fields: ["stream": "true"]))
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.headers["content-type"], "text/event-stream")
        let events = SSE.parse(reply.text)
        let done = try XCTUnwrap(events.last)
        XCTAssertEqual(done.event, "transcript.text.done")
        XCTAssertEqual(done.data["type"] as? String, "transcript.text.done")
        XCTAssertEqual(done.data["text"] as? String, json["text"] as? String)
        let usage = try XCTUnwrap(done.data["usage"] as? [String: Any])
        XCTAssertEqual(usage["output_tokens"] as? Int, 24)
    }
}

/// The `text` format's rendering of a transcript text.
enum TranscriptRendererProbe {
    static func text(_ s: String) -> String { s.isEmpty ? "" : s + "\n" }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<RawHTTP.Reply, Error>?]
    init(count: Int) { items = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<RawHTTP.Reply, Error>) { lock.withLock { items[i] = r } }
    var all: [Result<RawHTTP.Reply, Error>] {
        lock.withLock { items.map { $0 ?? .failure(RawHTTP.Failure("no result")) } }
    }
}

/// Server-Sent Events as a client reads them: `event:` and `data:` lines, blank-line separated;
/// comment lines (`:`) are skipped.
enum SSE {
    struct Event {
        var event: String?
        var rawData: String
        var data: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(rawData.utf8))) as? [String: Any] ?? [:] }
    }

    static func parse(_ text: String) -> [Event] {
        var events: [Event] = []
        for block in text.components(separatedBy: "\n\n") {
            var name: String?
            var data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix(":") { continue }
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            if !data.isEmpty { events.append(Event(event: name, rawData: data.joined(separator: "\n"))) }
        }
        return events
    }
}
