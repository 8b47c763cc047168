import Foundation
import XCTest
@testable import VibeVoiceServer
import VibeVoiceASR

/// Queue limits (429), timeouts (504), cancellation on disconnect, SSE framing and shutdown, with a
/// scripted engine behind the real worker and the real HTTP stack.
final class ServerLoadControlTests: XCTestCase {
    func post(_ port: Int, _ fields: [String: String] = [:]) throws -> RawHTTP.Reply {
        try RawHTTP.transcribe(port: port, form: MultipartForm(file: toneWAV(), fields: fields))
    }

    /// Sends a whole transcription request on a connection of its own and returns it unread.
    func start(_ port: Int, _ fields: [String: String] = [:]) throws -> RawHTTP {
        let form = MultipartForm(file: toneWAV(), fields: fields)
        let c = try RawHTTP(port: port)
        c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               + "Content-Type: \(form.contentType)\r\nContent-Length: \(form.body.count)\r\n\r\n")
        c.send(form.body)
        return c
    }

    func testQueueFullAnswers429AtOnce() async throws {
        let engine = ScriptedEngine(.untilReleased)
        let h = try ServerHarness(configure: { $0.maxQueue = 1; $0.retryAfterSeconds = 2 }) { engine.worker(maxQueue: 1) }
        try h.waitUntilReady()
        let running = try start(h.port)
        XCTAssertTrue(engine.waitForStarts(1))
        let queued = try start(h.port)
        XCTAssertTrue(eventually { h.scheduler?.load.waiting == 1 })
        let t0 = Date()
        let refused = try post(h.port)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "429 comes at once")
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual(refused.errorCode, "queue_full")
        XCTAssertEqual(refused.headers["retry-after"], "2")
        engine.release()
        XCTAssertEqual(try running.reply().status, 200)
        XCTAssertEqual(try queued.reply().status, 200)
        XCTAssertEqual(engine.counts().finished, 2)
        let metrics = try RawHTTP.request(port: h.port, path: "/metrics").text
        XCTAssertTrue(metrics.contains("vibevoice_requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"429\"} 1"), metrics)
        await h.stop()
    }

    func testTimeoutCancelsTheJobAndFreesItsPlace() async throws {
        let engine = ScriptedEngine(.untilCancelled)
        let h = try ServerHarness(configure: { $0.maxQueue = 0; $0.requestTimeout = 0.5 }) { engine.worker(maxQueue: 0) }
        try h.waitUntilReady()
        let t0 = Date()
        let r = try post(h.port)
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(r.errorCode, "timeout")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 3)
        XCTAssertTrue(eventually { engine.counts().cancelled == 1 }, "the running job saw the cancellation")
        XCTAssertTrue(eventually { h.scheduler?.load == SchedulerLoad(waiting: 0, queued: 0, running: 0, capacity: 1) })
        engine.script = .segments([])
        XCTAssertEqual(try post(h.port).status, 200, "the one place is free again")
        await h.stop()
    }

    func testClientDisconnectCancelsRunningAndQueuedJobs() async throws {
        let engine = ScriptedEngine(.untilCancelled)
        let h = try ServerHarness(configure: { $0.maxQueue = 1 }) { engine.worker(maxQueue: 1) }
        try h.waitUntilReady()
        var running: RawHTTP? = try start(h.port)
        XCTAssertTrue(engine.waitForStarts(1))
        var queued: RawHTTP? = try start(h.port)
        XCTAssertTrue(eventually { h.scheduler?.load.queued == 1 }, "the second job is in the queue, behind the first")
        queued = nil           // closes the socket: the queued job is dropped and never runs
        XCTAssertTrue(eventually { h.scheduler?.load.waiting == 0 }, "the queued place is freed at once")
        running = nil          // the running job is cancelled at its next poll
        XCTAssertTrue(eventually { engine.counts().cancelled == 1 })
        XCTAssertTrue(eventually { h.scheduler?.load.running == 0 })
        XCTAssertEqual(engine.counts().started, 1, "the cancelled queued job never ran")
        _ = (running, queued)
        await h.stop()
    }

    func testStreamDisconnectCancelsTheJob() async throws {
        let engine = ScriptedEngine(.untilCancelled)
        let h = try ServerHarness(configure: { $0.maxQueue = 0 }) { engine.worker(maxQueue: 0) }
        try h.waitUntilReady()
        var c: RawHTTP? = try start(h.port, ["stream": "true"])
        XCTAssertTrue(engine.waitForStarts(1))
        let head = c!.read(until: "\r\n\r\n")
        XCTAssertTrue(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        c = nil
        XCTAssertTrue(eventually { engine.counts().cancelled == 1 }, "a stream whose client left is cancelled (heartbeat write fails)")
        XCTAssertTrue(eventually { h.scheduler?.load.running == 0 })
        _ = c
        await h.stop()
    }

    func testSSEFraming() async throws {
        let segments = [Segment(start: 0, end: 1.5, speaker: 0, text: "Hello there."),
                        Segment(start: 1.5, end: 3.25, speaker: 1, text: "General \"Kenobi\".")]
        let engine = ScriptedEngine(.segments(segments))
        let h = try ServerHarness { engine.worker(maxQueue: 2) }
        try h.waitUntilReady()

        let raw = try post(h.port, ["stream": "true"])
        XCTAssertEqual(raw.headers["content-type"], "text/event-stream")
        XCTAssertEqual(raw.headers["cache-control"], "no-cache")
        let events = SSE.parse(raw.text)
        XCTAssertEqual(events.map(\.event), ["transcript.text.delta", "transcript.text.delta", "transcript.text.done"])
        XCTAssertEqual(events[0].data["delta"] as? String, "Hello there.")
        XCTAssertEqual(events[0].data["segment_id"] as? String, "seg_0")
        XCTAssertEqual(events[1].data["delta"] as? String, " General \"Kenobi\".")
        XCTAssertEqual(events.map { $0.data["type"] as? String }, events.map(\.event))
        let done = events[2].data
        XCTAssertEqual(done["text"] as? String, "Hello there. General \"Kenobi\".")
        XCTAssertEqual((events[0].data["delta"] as! String) + (events[1].data["delta"] as! String), done["text"] as? String)
        let usage = try XCTUnwrap(done["usage"] as? [String: Any])
        XCTAssertEqual(usage["type"] as? String, "tokens")
        XCTAssertEqual(usage["total_tokens"] as? Int, 13)
        XCTAssertEqual(done["duration"] as? Double ?? 0, 0.5, accuracy: 1e-9)
        // Every event is `event:` + `data:` lines ended by a blank line.
        for block in raw.text.components(separatedBy: "\n\n").filter({ !$0.isEmpty }) {
            let lines = block.split(separator: "\n")
            XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("event: ") || $0.hasPrefix("data: ") || $0.hasPrefix(":") }, block)
        }

        let diarized = SSE.parse(try post(h.port, ["stream": "true", "response_format": "diarized_json"]).text)
        XCTAssertEqual(diarized.map(\.event), ["transcript.text.segment", "transcript.text.segment", "transcript.text.done"])
        XCTAssertEqual(diarized[1].data["speaker"] as? String, "B")
        XCTAssertEqual(diarized[1].data["id"] as? String, "seg_1")
        XCTAssertEqual(diarized[1].data["start"] as? Double, 1.5)
        XCTAssertEqual(diarized[1].data["end"] as? Double, 3.25)

        let nonStream = try post(h.port, ["response_format": "diarized_json"]).json
        let segs = try XCTUnwrap(nonStream["segments"] as? [[String: Any]])
        XCTAssertEqual(segs.map { $0["speaker"] as? String }, ["A", "B"])
        XCTAssertEqual(segs.map { $0["type"] as? String }, ["transcript.text.segment", "transcript.text.segment"])
        await h.stop()
    }

    /// A failure after the stream began is sent as an OpenAI error object, then the stream ends.
    func testStreamTimeoutIsAnErrorEvent() async throws {
        let engine = ScriptedEngine(.untilCancelled)
        let h = try ServerHarness(configure: { $0.requestTimeout = 0.5 }) { engine.worker(maxQueue: 0) }
        try h.waitUntilReady()
        let events = SSE.parse(try post(h.port, ["stream": "true"]).text)
        XCTAssertEqual(events.last?.event, "error")
        XCTAssertEqual((events.last?.data["error"] as? [String: Any])?["code"] as? String, "timeout")
        await h.stop()
    }

    func testShutdownFinishesTheRequestInFlightAndRefusesNewOnes() async throws {
        let engine = ScriptedEngine(.untilReleased)
        let h = try ServerHarness(configure: { $0.shutdownGrace = 20 }) { engine.worker(maxQueue: 2) }
        try h.waitUntilReady()
        let port = h.port
        let inFlight = try start(port)
        XCTAssertTrue(engine.waitForStarts(1))
        let stopping = Task { await h.stop() }
        XCTAssertTrue(eventually { if case .draining = h.server.state.current { return true } else { return false } })
        // A new connection is refused or answered 503; never queued.
        if let r = try? post(port) { XCTAssertEqual(r.status, 503, r.text) }
        engine.release()
        let reply = try inFlight.reply()
        XCTAssertEqual(reply.status, 200, reply.text)
        if case .failure(let e) = await stopping.value { XCTFail("run failed: \(e)") }
        XCTAssertEqual(engine.counts().started, 1)
    }
}

/// The worker alone: places, queue order, cancellation before and during a run.
final class SerialWorkerTests: XCTestCase {
    func testPlacesAreBoundedAndQueuedCancelledJobsNeverRun() throws {
        let engine = ScriptedEngine(.untilReleased)
        let worker = engine.worker(maxQueue: 1)
        let a = try XCTUnwrap(worker.reserve())
        let b = try XCTUnwrap(worker.reserve())
        XCTAssertNil(worker.reserve(), "1 running + 1 queued")
        let done = DispatchGroup()
        let outcomes = OutcomeBox()
        func job(_ name: String) -> TranscriptionJob {
            done.enter()
            return TranscriptionJob(samples: [0], options: .init()) { r in outcomes.add(name, r); done.leave() }
        }
        let jobA = job("a"), jobB = job("b")
        worker.submit(jobA, in: a)
        XCTAssertTrue(engine.waitForStarts(1))
        worker.submit(jobB, in: b)
        worker.cancel(jobB)
        jobB.complete(.failure(TranscriberErrorProbe.cancelled))
        XCTAssertEqual(worker.load, SchedulerLoad(waiting: 0, queued: 0, running: 1, capacity: 2))
        XCTAssertNotNil(worker.reserve(), "the cancelled job's place is free at once")
        engine.release()
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(engine.counts().started, 1, "job b never ran")
        XCTAssertEqual(outcomes.names, ["b", "a"])
        worker.close()
    }
}

enum TranscriberErrorProbe: Error { case cancelled }

final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _names: [String] = []
    func add(_ n: String, _ r: Result<TranscriptionResult, Error>) { lock.withLock { _names.append(n) } }
    var names: [String] { lock.withLock { _names } }
}
