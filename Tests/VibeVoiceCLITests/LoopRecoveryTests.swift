import Foundation
import XCTest
import VibeVoiceCompute
@testable import VibeVoiceASR

/// Repetition-loop recovery on a model built to loop: every decoder layer is zero, so the next
/// token depends only on the current one, and the LM head maps "\n" → a → b → … → l → a. The
/// transcript text repeats "abcdefghijkl", a 12-character pattern, until the detector fires.
final class LoopRecoveryTests: XCTestCase {
    /// Weights by name: zeros, except the embedding (one-hot rows), the LM head (the cycle), norms
    /// (ones) — enough for the full model to load and run.
    final class LoopingWeights: WeightSource, @unchecked Sendable {
        let tensors: [String: WeightTensor]
        init(config: VibeVoiceConfig, cycle: [Int], newline: Int) {
            let h = config.decoder.hiddenSize
            let vocab = config.decoder.vocabSize
            var out: [String: WeightTensor] = [:]
            for (name, shape) in CheckpointNames.expectedShapes(for: config) {
                var values = [Float](repeating: 0, count: shape.reduce(1, *))
                if name.hasSuffix("norm.weight") || name.hasSuffix("layernorm.weight") {
                    values = [Float](repeating: 1, count: values.count)
                }
                if name == "language_model.model.embed_tokens.weight" {
                    // Slot 0 for "\n", slot 1 + i for cycle[i]; other tokens share the last slot.
                    for t in 0..<vocab {
                        let slot = t == newline ? 0 : (cycle.firstIndex(of: t).map { $0 + 1 } ?? h - 1)
                        values[t * h + slot] = 1
                    }
                }
                if name == "language_model.lm_head.weight" {
                    for (i, t) in cycle.enumerated() {
                        let previousSlot = i == 0 ? 0 : i              // "\n" (slot 0) or cycle[i-1] (slot i)
                        values[t * h + previousSlot] = 10
                    }
                    values[cycle[0] * h + cycle.count] = 10             // cycle[last] → cycle[0]
                }
                out[name] = OwnedWeightBuffer.tensor(values, shape: shape)
            }
            tensors = out
        }
        func tensor(_ name: String, shape: [Int]) throws -> WeightTensor { tensors[name]! }
        func has(_ name: String) -> Bool { tensors[name] != nil }
    }

    func makeTranscriber() throws -> Transcriber {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/engine/hf_bf16_chunked/model")
        let config = try VibeVoiceConfig.load(from: dir)
        let tokenizer = try Tokenizer(url: dir)
        let cycle = "abcdefghijkl".map { tokenizer.encode(String($0))[0] }
        XCTAssertEqual(Set(cycle).count, 12)
        let newline = tokenizer.encode("\n")[0]
        let model = try VibeVoiceASRModel(weights: LoopingWeights(config: config, cycle: cycle, newline: newline),
                                          config: config)
        return try Transcriber(model: model, tokenizer: tokenizer)
    }

    func testLoopIsDetectedAndRetriedAtMostThreeTimes() throws {
        let transcriber = try makeTranscriber()
        let samples = (0..<9600).map { Float(sin(Double($0) * 0.01)) * 0.1 }
        let log = EventLog()
        var options = TranscriptionOptions(maxNewTokens: 400)
        let result = try transcriber.transcribe(samples: samples, options: options) { event in
            if case let .loopRecovered(attempt, kept) = event { log.append("\(attempt):\(kept)") }
        }
        XCTAssertEqual(log.items, ["1:0", "2:0", "3:0"], "three recoveries, none with a complete segment to keep")
        XCTAssertEqual(result.loopRecoveries, 3)
        let text = result.transcript.plainText ?? ""
        XCTAssertTrue(text.contains(String(repeating: "abcdefghijkl", count: 10)), text)
        XCTAssertEqual(result.transcript.tokens?.count, 400, "the last attempt runs to the budget")

        options.loopRecovery = false
        let plain = try transcriber.transcribe(samples: samples, options: options)
        XCTAssertEqual(plain.loopRecoveries, 0)
        XCTAssertEqual(plain.transcript.tokens?.count, 400)
    }
}
