import Foundation
import XCTest
@testable import VibeVoiceServer

/// Hostile clients never crash the server, hang its worker, or keep a place: after each, the server
/// still answers and every place is free.
final class ServerHostileInputTests: XCTestCase {
    var harness: ServerHarness!
    var engine: ScriptedEngine!
    var port: Int { harness.port }

    override func setUpWithError() throws {
        let engine = ScriptedEngine(.segments([]))
        self.engine = engine
        harness = try ServerHarness(configure: { $0.idleTimeout = 1; $0.requestTimeout = 5; $0.maxQueue = 2 }) {
            engine.worker(maxQueue: 2)
        }
        try harness.waitUntilReady()
    }

    override func tearDown() async throws {
        await harness.stop()
    }

    func assertStillServing(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(eventually { self.harness.scheduler?.load.waiting == 0 && self.harness.scheduler?.load.running == 0 },
                      "every place is free", file: file, line: line)
        XCTAssertEqual(try? RawHTTP.request(port: port, path: "/health").status, 200, file: file, line: line)
        let ok = try? RawHTTP.transcribe(port: port, form: MultipartForm(file: toneWAV()))
        XCTAssertEqual(ok?.status, 200, file: file, line: line)
    }

    func testHugeHeadersAreRefused() throws {
        let c = try RawHTTP(port: port, receiveTimeout: 10)
        c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n")
        let reply = try? RawHTTP.parse(c.readAll())
        XCTAssertEqual(reply?.status ?? 400, 400, "an oversized header block is a bad request (or the connection is closed)")
        assertStillServing()
    }

    func testGarbageInsteadOfHTTP() throws {
        let c = try RawHTTP(port: port, receiveTimeout: 10)
        c.send(Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
        let reply = try? RawHTTP.parse(c.readAll())
        XCTAssertEqual(reply?.status ?? 400, 400)
        assertStillServing()
    }

    func testBodyThatStopsHalfWay() throws {
        let form = MultipartForm(file: toneWAV())
        let c = try RawHTTP(port: port, receiveTimeout: 10)
        c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: \(form.contentType)\r\n"
               + "Content-Length: \(form.body.count)\r\n\r\n")
        c.send(form.body.prefix(form.body.count / 2))
        c.finishSending()
        let reply = try? RawHTTP.parse(c.readAll())
        // 400 incomplete_upload when the short body is seen first, 499 client_closed when the close is.
        if let reply { XCTAssertTrue([400, 499].contains(reply.status), reply.text) }
        XCTAssertEqual(engine.counts().started, 0)
        assertStillServing()
    }

    func testMultipartWithoutClosingBoundary() throws {
        let form = MultipartForm(file: toneWAV())
        var body = form.body
        body.removeLast("--\(form.boundary)--\r\n".utf8.count)
        let r = try RawHTTP.request(port: port, method: "POST", path: "/v1/audio/transcriptions",
                                    headers: ["Content-Type": form.contentType], body: body)
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertEqual(r.errorCode, "incomplete_upload")
        assertStillServing()
    }

    /// A client that sends its head and then nothing is disconnected by the idle timeout (1 s here).
    func testStalledClientIsDisconnected() throws {
        let c = try RawHTTP(port: port, receiveTimeout: 10)
        c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
               + "Content-Length: 100000\r\n\r\n--b\r\n")
        let t0 = Date()
        _ = c.readAll()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 8, "closed by the server, not by the test's receive timeout")
        assertStillServing()
    }

    /// A client dripping one byte every half second (never idle for a whole second) meets the request
    /// timeout (5 s here) instead.
    func testSlowDripClientMeetsTheRequestTimeout() throws {
        let form = MultipartForm(file: toneWAV())
        let c = try RawHTTP(port: port, receiveTimeout: 15)
        c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: \(form.contentType)\r\n"
               + "Content-Length: \(form.body.count)\r\n\r\n")
        let t0 = Date()
        var answered = Data()
        for byte in form.body.prefix(30) {
            guard c.send(Data([byte])) else { break }
            Thread.sleep(forTimeInterval: 0.5)
            if Date().timeIntervalSince(t0) > 6 { break }
        }
        answered = c.readAll()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 12)
        if let r = try? RawHTTP.parse(answered) { XCTAssertEqual(r.status, 408, r.text) }
        assertStillServing()
    }

    func testManyBrokenRequestsInARowLeaveNoPlaceTaken() throws {
        for i in 0..<30 {
            let c = try RawHTTP(port: port, receiveTimeout: 5)
            c.send("POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                   + "Content-Length: 50000\r\n\r\n--zz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
                   + String(repeating: "\(i)", count: 100))
            // dropped without finishing
        }
        assertStillServing()
    }
}
