import Foundation
import XCTest
@testable import VibeVoiceModel

/// Log-probabilities and the growable session, against the logits transformers 5.23.0 recorded for the
/// engine fixtures (`step_logits`: the logits that chose each greedy token).
final class DecoderSessionTests: XCTestCase {
    /// log_softmax(step_logits[i])[generated[i]], in f64, from the reference's own logits.
    static func referenceLogProbs(_ f: ReferenceFixture) -> [Double] {
        let generated = f.ints("generated_ids")
        let vocab = f.shape("step_logits")[1]
        let logits = f.floats("step_logits")
        return generated.enumerated().map { i, t in
            let row = logits[(i * vocab)..<((i + 1) * vocab)].map(Double.init)
            let m = row.max()!
            return row[t] - (m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }))
        }
    }

    /// Measured: largest difference 3e-6 (the logits agree to ~2e-6 relative); 1e-4 leaves room for BLAS order.
    static func assertClose(_ a: [Double], _ b: [Double], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertLessThan(abs(x - y), 1e-4 * max(1, abs(y)), "\(label) token \(i): \(x) vs \(y)", file: file, line: line)
        }
    }

    func testGeneratedTokensCarryTheReferenceLogProbabilities() throws {
        for name in ReferenceFixture.caseNames {
            let f = try ReferenceFixture(name)
            let (model, audio) = try f.loadModelAndAudio()
            let expected = f.ints("generated_ids")
            let options = GenerationOptions(maxNewTokens: expected.count, stopTokenIDs: [])
            let session = try GenerationSession(model: model, promptIDs: f.ints("input_ids"), audio: audio,
                                                audioTokenID: f.audioTokenID, options: options)
            let result = session.generate(options: options)
            XCTAssertEqual(result.tokens, expected, name)
            let ref = Self.referenceLogProbs(f)
            Self.assertClose(result.logProbs, ref, name)
            // a teacher-forced prefix gets the same figures as when the model wrote it
            var rest = options
            rest.maxNewTokens = expected.count - 10
            let resumed = session.generate(prefix: Array(expected[0..<10]), options: rest)
            Self.assertClose(resumed.prefixLogProbs, Array(ref[0..<10]), name + " prefix")
            Self.assertClose(resumed.logProbs, Array(ref[10...]), name + " after the prefix")
            // a repetition penalty changes the choice, not the figure: log p is of the model's own logits
            var penalised = options
            penalised.repetitionPenalty = 1.3
            penalised.recordLogProbs = true
            let p = session.generate(options: penalised)
            XCTAssertEqual(p.logProbs.count, p.tokens.count)
            var off = options
            off.recordLogProbs = false
            XCTAssertTrue(session.generate(options: off).logProbs.isEmpty)
        }
    }

    func testSessionScoresTeacherForcedTokensAndReusesItsCache() throws {
        let f = try ReferenceFixture("hf_bf16_chunked")
        let (model, audio) = try f.loadModelAndAudio()
        let prompt = f.ints("input_ids")
        let generated = f.ints("generated_ids")
        let ref = Self.referenceLogProbs(f)

        let session = DecoderSession(model: model, audioTokenID: f.audioTokenID)
        try session.extend(to: prompt, audio: audio, blockSize: 7)
        XCTAssertEqual(session.prefilledTokenCount, prompt.count)
        let g = session.generate(options: GenerationOptions(maxNewTokens: 8, stopTokenIDs: []))
        XCTAssertEqual(g.tokens, Array(generated[0..<8]))
        XCTAssertEqual(session.ids, prompt + generated[0..<7])      // the last token waits for the next extend

        // Scoring the whole reference continuation reuses the prompt; only the row before the first scored
        // token (the prompt's last) and the new tokens run.
        let before = session.prefilledTokenCount
        let full = prompt + generated
        let positions = Array(prompt.count..<full.count)
        let scores = try session.extend(to: full, audio: audio, scorePositions: positions, blockSize: 5)
        Self.assertClose(scores, ref, "teacher-forced")
        XCTAssertEqual(session.prefilledTokenCount - before, generated.count + 1)

        // The same figures from a fresh session in one pass.
        let fresh = DecoderSession(model: model, audioTokenID: f.audioTokenID)
        Self.assertClose(try fresh.extend(to: full, audio: audio, scorePositions: positions), scores, "one pass")

        // Going back to a shorter sequence keeps its prefix and continues as a fresh prefill would.
        try session.extend(to: prompt, audio: audio)
        XCTAssertEqual(session.generate(options: GenerationOptions(maxNewTokens: 24, stopTokenIDs: [])).tokens, generated)
    }

    func testSessionRejectsMismatchedAudioAndIDs() throws {
        let f = try ReferenceFixture("hf_bf16_chunked")
        let (model, audio) = try f.loadModelAndAudio()
        let session = DecoderSession(model: model, audioTokenID: f.audioTokenID)
        XCTAssertThrowsError(try session.extend(to: f.ints("input_ids"))) { error in
            guard case ModelRunError.audioTokenCountMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try session.extend(to: [1, 1_000_000], audio: nil)) { error in
            guard case ModelRunError.tokenOutOfRange = error else { return XCTFail("\(error)") }
        }
        XCTAssertTrue(session.ids.isEmpty)
        _ = audio
    }

    func testLogSumExpIsStable() {
        XCTAssertEqual(LogSoftmax.logSumExp([1000, 1000]), 1000 + Foundation.log(2.0), accuracy: 1e-9)
        XCTAssertEqual(LogSoftmax.logSumExp([-1000, -1000, -1000]), -1000 + Foundation.log(3.0), accuracy: 1e-9)
        let big = (0..<100_000).map { Float($0 % 7) * 0.5 }
        let exact = big.map { Double($0) }
        let m = exact.max()!
        XCTAssertEqual(LogSoftmax.logSumExp(big), m + Foundation.log(exact.reduce(0) { $0 + Foundation.exp($1 - m) }), accuracy: 1e-6)
    }
}
