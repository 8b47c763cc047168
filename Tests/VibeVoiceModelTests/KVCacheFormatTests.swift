import XCTest
@testable import VibeVoiceModel

/// The opt-in f16 key/value cache against the reference fixtures (the f32 cache is what the parity tests check):
/// prompt logits stay close and greedy tokens stay the same; the cache holds half the bytes.
final class KVCacheFormatTests: XCTestCase {
    func testF16CacheFollowsTheReferenceClosely() throws {
        for name in ReferenceFixture.caseNames {
            let f = try ReferenceFixture(name)
            let model = try VibeVoiceASRModel(directory: f.modelDirectory, kvCache: .f16)
            let audio = try model.encodeAudio(f.normalizedAudio)
            let ids = f.ints("input_ids")
            let logits = try model.promptLogits(promptIDs: ids, audio: audio, audioTokenID: f.audioTokenID)
            let (d, s) = maxAbsDiff(logits, f.floats("prompt_logits"))
            print("[\(name)] f16 cache: prompt logits max |diff| \(d) (scale \(s), relative \(d / s))")
            // f16 rounds keys and values to 11 significant bits (relative 2^-12); through attention that moves the
            // logits by the same order: measured 2.8e-4 to 3.6e-4 relative on these fixtures (f32 cache: ≤ 3.2e-6).
            XCTAssertLessThan(d / s, 3e-3, name)
            XCTAssertGreaterThan(d / s, 1e-5, "\(name): the cache is rounded")
            let expected = f.ints("generated_ids")
            let stop = (f.meta["model"] as? [String: Any])?["endoftext_id"] as? Int ?? 151643
            let result = try model.generate(promptIDs: ids, audio: audio, audioTokenID: f.audioTokenID,
                                            options: GenerationOptions(maxNewTokens: expected.count, stopTokenIDs: [stop]))
            XCTAssertEqual(result.tokens, expected, "\(name): greedy ids (margins above 0.01 in the fixtures)")
        }
    }

    func testF16CacheHoldsHalfTheBytes() throws {
        let f = try ReferenceFixture("hf_bf16_chunked")
        let exact = try VibeVoiceASRModel(directory: f.modelDirectory).decoder.makeCache(capacity: 100)
        let half = try VibeVoiceASRModel(directory: f.modelDirectory, kvCache: .f16).decoder.makeCache(capacity: 100)
        XCTAssertEqual(exact.format, .f32)
        XCTAssertEqual(half.byteCount * 2, exact.byteCount)
        half.ensureCapacity(1000)
        XCTAssertEqual(half.byteCount * 2, exact.byteCount * 10)
    }
}
