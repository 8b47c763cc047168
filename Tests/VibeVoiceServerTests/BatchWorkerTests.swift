import Foundation
import XCTest
@testable import VibeVoiceServer
import VibeVoiceASR

/// The server's batch scheduler on the real tiny model: requests join while others decode, each gets the
/// tokens it gets alone, places are bounded, and a cancelled request frees its slot at once.
final class BatchWorkerTests: XCTestCase {
    final class Outcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [Int: Result<TranscriptionResult, Error>] = [:]
        private var order: [Int] = []
        func set(_ i: Int, _ r: Result<TranscriptionResult, Error>) { lock.withLock { results[i] = r; order.append(i) } }
        var all: [Int: Result<TranscriptionResult, Error>] { lock.withLock { results } }
        var finishOrder: [Int] { lock.withLock { order } }
    }

    func testRequestsJoinWhileOthersDecodeAndCancellationFreesTheSlot() throws {
        let transcriber = try Transcriber(modelDirectory: ServerHarness.modelDir)
        let samples = try AudioLoader.load(contentsOf: ServerHarness.audio).samples
        var options = TranscriptionOptions(maxNewTokens: 24)
        options.loopRecovery = false
        let alone = try transcriber.transcribe(samples: samples, options: options).transcript.tokens
        var long = options
        long.maxNewTokens = 100_000          // would run for a long time: cancelled below

        let worker = BatchWorker(transcriber: transcriber, slots: 2, maxQueue: 3)
        XCTAssertEqual(worker.load.capacity, 5)
        let outcomes = Outcomes()
        var reservations: [Reservation] = []
        for _ in 0..<5 { reservations.append(try XCTUnwrap(worker.reserve())) }
        XCTAssertNil(worker.reserve(), "five places: two slots and three in the queue")

        let endless = TranscriptionJob(samples: samples, options: long) { outcomes.set(0, $0) }
        worker.submit(endless, in: reservations[0])
        var jobs: [TranscriptionJob] = []
        for i in 1..<5 {
            let job = TranscriptionJob(samples: samples, options: options) { outcomes.set(i, $0) }
            jobs.append(job)
            worker.submit(job, in: reservations[i])
        }
        // The four short requests pass through the other slot (joining while the long one decodes)...
        let deadline = Date().addingTimeInterval(120)
        while outcomes.all.count < 4 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(Set(outcomes.all.keys), [1, 2, 3, 4])
        for i in 1..<5 { XCTAssertEqual(try outcomes.all[i]!.get().transcript.tokens, alone, "request \(i)") }
        XCTAssertEqual(worker.load.running, 1, "the long one still decodes")
        // ... and cancelling the long one ends it at its next token.
        let t = Date()
        worker.cancel(endless)
        while outcomes.all[0] == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertLessThan(Date().timeIntervalSince(t), 5)
        XCTAssertThrowsError(try outcomes.all[0]!.get()) { XCTAssertTrue($0 is TranscriberError, "\($0)") }
        let idle = expectation(description: "idle")
        Task { await worker.waitUntilIdle(); idle.fulfill() }
        wait(for: [idle], timeout: 10)
        XCTAssertEqual(worker.load, SchedulerLoad(waiting: 0, queued: 0, running: 0, capacity: 5))
        worker.close()
    }
}
