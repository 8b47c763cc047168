import Foundation
import XCTest
@testable import VibeVoiceASR

/// Batched decoding: every input's transcript equals its own unbatched run, with speculation on or off,
/// including loop recovery (sampling after a loop) and inputs that fail.
final class BatchDecodingTests: XCTestCase {
    static let engine = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine")

    private func clips() throws -> [[Float]] {
        try ["hf_bf16_chunked", "original_sharded_context", "hf_inmemory_f32_long"].map {
            try AudioLoader.load(contentsOf: Self.engine.appendingPathComponent("\($0)/audio.wav")).samples
        }
    }

    func testBatchedTranscriptsEqualTheirOwnRuns() throws {
        let transcriber = try Transcriber(modelDirectory: Self.engine.appendingPathComponent("hf_bf16_chunked/model"))
        let audio = try clips()
        var options = TranscriptionOptions(maxNewTokens: 40)
        options.loopRecovery = false
        var alone: [[Int]] = []
        for samples in audio + [Array(audio[0].prefix(40_000))] {
            alone.append(try transcriber.transcribe(samples: samples, options: options).transcript.tokens ?? [])
        }
        var plain = options
        plain.speculative = false
        XCTAssertEqual(try transcriber.transcribe(samples: audio[1], options: plain).transcript.tokens, alone[1],
                       "speculation never changes the output")
        for slots in [2, 3, 4] {
            for opts in [options, plain] {
                // Different budgets so that inputs finish at different steps and the next one takes the slot.
                var inputs: [BatchInput] = []
                for (i, samples) in (audio + [Array(audio[0].prefix(40_000))]).enumerated() {
                    inputs.append(BatchInput(options: opts) { samples })
                    _ = i
                }
                var got: [Int: [Int]] = [:]
                var order: [Int] = []
                transcriber.transcribeBatch(inputs, slots: slots) { i, r in
                    got[i] = (try? r.get())?.transcript.tokens
                    order.append(i)
                }
                XCTAssertEqual(Set(order), Set(0..<4), "every input completes once (slots \(slots))")
                for i in 0..<4 { XCTAssertEqual(got[i], alone[i], "input \(i), slots \(slots), speculative \(opts.speculative)") }
            }
        }
    }

    func testBudgetsAndFailuresInABatch() throws {
        let transcriber = try Transcriber(modelDirectory: Self.engine.appendingPathComponent("hf_bf16_chunked/model"))
        let audio = try clips()
        var inputs: [BatchInput] = []
        var expected: [[Int]?] = []
        for (i, budget) in [5, 31, 12].enumerated() {
            var o = TranscriptionOptions(maxNewTokens: budget)
            o.loopRecovery = false
            inputs.append(BatchInput(options: o) { audio[i] })
            expected.append(try transcriber.transcribe(samples: audio[i], options: o).transcript.tokens)
        }
        struct Broken: Error {}
        inputs.insert(BatchInput { throw Broken() }, at: 1)
        expected.insert(nil, at: 1)
        // A cancelled request stops at its next token and frees its slot.
        var cancelled = TranscriptionOptions(maxNewTokens: 200)
        cancelled.isCancelled = { true }
        inputs.append(BatchInput(options: cancelled) { audio[0] })
        expected.append(nil)
        var got: [Int: Result<TranscriptionResult, Error>] = [:]
        transcriber.transcribeBatch(inputs, slots: 2) { i, r in got[i] = r }
        XCTAssertEqual(got.count, inputs.count)
        for i in inputs.indices {
            if let e = expected[i] {
                XCTAssertEqual(try got[i]!.get().transcript.tokens, e, "input \(i)")
            } else {
                XCTAssertThrowsError(try got[i]!.get(), "input \(i)")
            }
        }
        if case .failure(let e) = got[4]! { XCTAssertTrue(e is TranscriberError, "\(e)") }
    }
}

extension LoopRecoveryTests {
    /// Loop recovery (a cut back, then sampling) inside a batch gives what the input gives alone.
    func testLoopRecoveryInsideABatchMatchesItsOwnRun() throws {
        let looping = try makeTranscriber()
        let samples = (0..<9600).map { Float(sin(Double($0) * 0.01)) * 0.1 }
        var options = TranscriptionOptions(maxNewTokens: 600)
        options.seed = 7
        let alone = try looping.transcribe(samples: samples, options: options)
        XCTAssertGreaterThan(alone.loopRecoveries, 0)
        var got: [Int: [Int]] = [:]
        looping.transcribeBatch([BatchInput(options: options) { samples }, BatchInput(options: options) { samples }], slots: 2) { i, r in
            got[i] = (try? r.get())?.transcript.tokens
        }
        XCTAssertEqual(got[0], alone.transcript.tokens)
        XCTAssertEqual(got[1], alone.transcript.tokens)
    }
}
