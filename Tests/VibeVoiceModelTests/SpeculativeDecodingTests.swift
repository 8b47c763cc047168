import XCTest
import VibeVoiceCompute
@testable import VibeVoiceModel

/// Exact speculative decoding and multi-sequence decode steps: rows decoded together get the bits one-row
/// steps give them, and generated ids never change, whatever the drafts.
final class SpeculativeDecodingTests: XCTestCase {
    /// Proposes a fixed script (right or wrong) whatever it has seen.
    final class ScriptedDrafter: Drafter, @unchecked Sendable {
        let next: (_ seen: [Int], _ limit: Int) -> [Int]
        var seen: [Int] = []
        init(_ next: @escaping (_ seen: [Int], _ limit: Int) -> [Int]) { self.next = next }
        func observe(_ tokens: [Int]) { seen += tokens }
        func propose(limit: Int) -> [Int] { Array(next(seen, limit).prefix(limit)) }
    }

    private func session(_ name: String) throws -> (GenerationSession, ReferenceFixture) {
        let f = try ReferenceFixture(name)
        let (model, audio) = try f.loadModelAndAudio()
        let s = try GenerationSession(model: model, promptIDs: f.ints("input_ids"), audio: audio, audioTokenID: f.audioTokenID,
                                      options: GenerationOptions(maxNewTokens: 400))
        return (s, f)
    }

    private func options(_ n: Int, draft: Int, drafter: (@Sendable () -> Drafter)? = nil) -> GenerationOptions {
        var o = GenerationOptions(maxNewTokens: n, stopTokenIDs: [])
        o.maxDraftTokens = draft
        o.drafter = drafter
        return o
    }

    func testDecodeRowsTogetherEqualOneRowStepsBitForBit() throws {
        try checkDecodeRowsTogether(format: .f32)
    }

    /// The same with an f16 cache (`--kv-cache f16`): rows stored and read back rounded, still row by row.
    func testDecodeRowsTogetherEqualOneRowStepsBitForBitWithAnF16Cache() throws {
        try checkDecodeRowsTogether(format: .f16)
    }

    private func checkDecodeRowsTogether(format: KVCache.Format) throws {
        let f = try ReferenceFixture("hf_bf16_chunked")
        let (model, audio) = try f.loadModelAndAudio()
        let d = model.decoder
        let h = d.config.hiddenSize, v = d.config.vocabSize
        let prompt = f.ints("input_ids")
        let x0 = try model.fusedEmbeddings(promptIDs: prompt, audio: audio, audioTokenID: f.audioTokenID)
        func prefilled() -> KVCache {
            let c = KVCache(layers: d.config.numLayers, kvHeads: d.config.numKVHeads, headDim: d.config.headDim,
                            capacity: prompt.count + 16, format: format)
            var x = x0
            x.withUnsafeMutableBufferPointer { d.forward($0.baseAddress!, rows: prompt.count, cache: c) }
            return c
        }
        let next = [17, 3, 250, 99, 5, 42, 7, 11]
        // One row at a time.
        let single = prefilled()
        var expected: [[Float]] = []
        for t in next {
            var x = [Float](repeating: 0, count: h), l = [Float](repeating: 0, count: v)
            x.withUnsafeMutableBufferPointer { xp in
                d.embed(t, into: xp.baseAddress!)
                d.forward(xp.baseAddress!, rows: 1, cache: single)
                l.withUnsafeMutableBufferPointer { d.logits(xp.baseAddress!, into: $0.baseAddress!) }
            }
            expected.append(l)
        }
        // All eight in one step, and as two sequences side by side (5 rows + 3 rows, the second starting later).
        let block = prefilled()
        let other = prefilled()
        var xs = [Float](repeating: 0, count: 8 * h), ls = [Float](repeating: 0, count: 8 * v)
        xs.withUnsafeMutableBufferPointer { xp in
            for (i, t) in next.enumerated() { d.embed(t, into: xp.baseAddress! + i * h) }
            d.decodeForward(xp.baseAddress!, counts: [8], caches: [block])
            ls.withUnsafeMutableBufferPointer { d.decodeLogits(xp.baseAddress!, rows: 8, into: $0.baseAddress!) }
        }
        for i in 0..<8 {
            XCTAssertEqual(Array(ls[(i * v)..<((i + 1) * v)]).map(\.bitPattern), expected[i].map(\.bitPattern), "row \(i)")
        }
        // Sequence B first takes next[0..<5] alone, then its last 3 rows share a step with 5 rows of A.
        var xb = [Float](repeating: 0, count: 5 * h)
        xb.withUnsafeMutableBufferPointer { xp in
            for i in 0..<5 { d.embed(next[i], into: xp.baseAddress! + i * h) }
            d.decodeForward(xp.baseAddress!, counts: [5], caches: [other])
        }
        let a = prefilled()
        var xm = [Float](repeating: 0, count: 8 * h), lm = [Float](repeating: 0, count: 8 * v)
        xm.withUnsafeMutableBufferPointer { xp in
            for i in 0..<5 { d.embed(next[i], into: xp.baseAddress! + i * h) }
            for i in 0..<3 { d.embed(next[5 + i], into: xp.baseAddress! + (5 + i) * h) }
            d.decodeForward(xp.baseAddress!, counts: [5, 3], caches: [a, other])
            lm.withUnsafeMutableBufferPointer { d.decodeLogits(xp.baseAddress!, rows: 8, into: $0.baseAddress!) }
        }
        for i in 0..<8 {
            XCTAssertEqual(Array(lm[(i * v)..<((i + 1) * v)]).map(\.bitPattern), expected[i].map(\.bitPattern), "batched row \(i)")
        }
        XCTAssertEqual(a.length, prompt.count + 5)
        XCTAssertEqual(other.length, prompt.count + 8)
    }

    func testGeneratedIDsNeverChangeWhateverTheDrafts() throws {
        for name in ReferenceFixture.caseNames {
            let (s, _) = try session(name)
            let n = 300   // long forced generations: no stop token
            let plain = s.generate(options: options(n, draft: 0))
            XCTAssertEqual(plain.tokens.count, n)
            XCTAssertEqual(plain.decodeSteps, n - 1, "one step per token without drafts")
            let truth = plain.tokens
            let drafters: [(String, @Sendable () -> Drafter)] = [
                ("n-gram", { NGramDrafter() }),
                // The right continuation (as far as the script knows it): every draft accepted.
                ("oracle", { ScriptedDrafter { seen, limit in
                    let done = seen.count - s.promptIDs.count
                    return Array(truth[min(truth.count, done)..<min(truth.count, done + limit)])
                } }),
                // Always wrong: every draft rejected.
                ("adversary", { ScriptedDrafter { seen, limit in
                    let done = seen.count - s.promptIDs.count
                    return (0..<limit).map { i in done + i < truth.count ? (truth[done + i] + 1) % 300 : 0 }
                } }),
                // Right for two tokens, then wrong.
                ("partial", { ScriptedDrafter { seen, limit in
                    let done = seen.count - s.promptIDs.count
                    return (0..<limit).map { i in done + i < truth.count ? (i < 2 ? truth[done + i] : 1) : 0 }
                } }),
            ]
            for (label, make) in drafters {
                for draft in [1, 3, 7] {
                    let r = s.generate(options: options(n, draft: draft, drafter: make))
                    XCTAssertEqual(r.tokens, truth, "\(name) \(label) k=\(draft)")
                    XCTAssertEqual(r.logProbs.map(\.bitPattern), plain.logProbs.map(\.bitPattern), "\(name) \(label) k=\(draft)")
                    if label == "oracle" {
                        XCTAssertEqual(r.acceptedDraftTokens, r.draftedTokens, label)
                        XCTAssertLessThanOrEqual(r.decodeSteps, (n + draft) / (draft + 1) + 1, "\(label) k=\(draft)")
                    }
                    if label == "adversary" { XCTAssertEqual(r.acceptedDraftTokens, 0) }
                }
            }
        }
    }

    func testBudgetEdgeCancellationAndRewindsKeepTheCacheConsistent() throws {
        let (s, _) = try session("hf_inmemory_f32_long")
        let truth = s.generate(options: options(40, draft: 0)).tokens
        let oracle: @Sendable () -> Drafter = { ScriptedDrafter { seen, limit in
            let done = seen.count - s.promptIDs.count
            return Array(truth[min(truth.count, done)..<min(truth.count, done + limit)])
        } }
        // At the budget's edge: drafts never carry generation past the budget.
        for budget in 1...10 {
            let r = s.generate(options: options(budget, draft: 7, drafter: oracle))
            XCTAssertEqual(r.tokens, Array(truth.prefix(budget)), "budget \(budget)")
            XCTAssertEqual(r.stopReason, .maxNewTokens)
        }
        // A stop token inside an accepted draft ends generation there.
        var stopAt = options(40, draft: 7, drafter: oracle)
        stopAt.stopTokenIDs = [truth[13]]
        let stopped = s.generate(options: stopAt)
        XCTAssertEqual(stopped.tokens, Array(truth.prefix(truth.firstIndex(of: truth[13])! + 1)))
        XCTAssertEqual(stopped.stopReason, .stopToken)
        // Cancelling in the middle of a draft.
        var seen = 0
        let cancelled = s.generate(options: options(40, draft: 7, drafter: oracle)) { _ in
            seen += 1
            return seen < 6
        }
        XCTAssertEqual(cancelled.tokens, Array(truth.prefix(6)))
        XCTAssertEqual(cancelled.stopReason, .cancelled)
        // Rewinding to a forced prefix afterwards (what loop recovery does) still gives the plain continuation.
        let prefix = Array(truth.prefix(9))
        let plain = s.generate(prefix: prefix, options: options(20, draft: 0))
        let fast = s.generate(prefix: prefix, options: options(20, draft: 7, drafter: oracle))
        XCTAssertEqual(fast.tokens, plain.tokens)
        XCTAssertEqual(plain.tokens, Array(truth[9..<29]))
    }

    func testNGramDrafterProposesWhatFollowedTheLongestEarlierMatch() {
        let d = NGramDrafter(minN: 1, maxN: 3, draftLimits: [1: 1, 2: 2, 3: 5])
        d.observe([1, 2, 3, 4, 5, 6, 9, 2, 3])
        XCTAssertEqual(d.propose(limit: 8), [4, 5], "suffix [2, 3] matched: two tokens")
        d.observe([4])
        XCTAssertEqual(d.propose(limit: 8), [5, 6, 9, 2, 3], "suffix [2, 3, 4] matched: five")
        XCTAssertEqual(d.propose(limit: 2), [5, 6])
        d.observe([77])
        XCTAssertEqual(d.propose(limit: 8), [], "nothing seen before")
    }
}
