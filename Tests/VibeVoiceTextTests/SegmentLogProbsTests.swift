import XCTest
@testable import VibeVoiceText

/// Which generated tokens make a segment's avg_logprob, on the real Qwen2.5 vocabulary.
final class SegmentLogProbsTests: XCTestCase {
    /// The released checkpoint's greedy output for its 5.86 s test clip (SPEC.md section 6).
    static let released = [151644, 77091, 198, 58, 4913, 3479, 788, 15, 1335, 3727, 788, 20, 13, 23, 21, 1335, 82036, 788,
                           15, 1335, 2762, 3252, 12275, 13, 3406, 2044, 374, 279, 38471, 273, 315, 279, 6149, 6846, 11, 323,
                           582, 525, 15713, 311, 10565, 806, 41482, 1189, 25439, 151645, 198, 151643]

    func testOneSegmentOwnsTheTokensFromItsBraceToTheClosingOne() throws {
        let tok = try TokenizerFixtures.qwen()
        let ids = Self.released
        let logProbs = ids.indices.map { -Double($0 + 1) / 10 }
        let averages = try XCTUnwrap(SegmentLogProbs.averages(tokens: ids, logProbs: logProbs, tokenizer: tok))
        XCTAssertEqual(averages.count, 1)
        // tokens 4 (`{"`) to 44 (`}]`, which starts with the object's `}`); not <|im_start|> assistant \n [,
        // nor <|im_end|> \n <|endoftext|>
        XCTAssertEqual(tok.decode([ids[4]]), "{\"")
        XCTAssertEqual(tok.decode([ids[44]]), "}]")
        let expected = logProbs[4...44].reduce(0, +) / 41
        XCTAssertEqual(try XCTUnwrap(averages[0]), expected, accuracy: 1e-12)
    }

    func testSeparatorsBelongToNoSegment() throws {
        let tok = try TokenizerFixtures.qwen()
        let first = "{\"Start\":0,\"End\":1,\"Speaker\":0,\"Content\":\"a\"}"
        let second = "{\"Start\":1,\"End\":2,\"Speaker\":1,\"Content\":\"b\"}"
        let pieces = [tok.encode("["), tok.encode(first), tok.encode(","), tok.encode(second), tok.encode("]")]
        let ids = pieces.flatMap { $0 }
        let values: [Double] = [-100, -1, -100, -3, -100]
        let logProbs = zip(pieces, values).flatMap { p, v in Array(repeating: v, count: p.count) }
        let averages = try XCTUnwrap(SegmentLogProbs.averages(tokens: ids, logProbs: logProbs, tokenizer: tok))
        XCTAssertEqual(averages, [-1, -3])
        XCTAssertNil(SegmentLogProbs.averages(tokens: ids, logProbs: [], tokenizer: tok))
    }

    func testVerboseJSONWritesAndReadsAvgLogprob() {
        // A segment from a model run carries its token ids and their mean log-probability; one without
        // (converted from a file that never had them) gets OpenAI's required number as a placeholder, 0,
        // beside empty `tokens`, and reads back as unknown.
        var t = Transcript(segments: [Segment(start: 0, end: 1.5, speaker: 0, text: "Hi.", avgLogprob: -0.25, tokens: [13048, 13]),
                                      Segment(start: 1.5, end: 2, speaker: 1, text: "Yo.")])
        t.duration = 2
        t.tokens = [13048, 13, 56, 78]
        let out = TranscriptRenderer.render(t, as: .verboseJSON)
        XCTAssertTrue(out.contains("\"tokens\": [13048, 13]"), out)
        XCTAssertTrue(out.contains("\"avg_logprob\": -0.25,"), out)
        XCTAssertTrue(out.contains("\"tokens\": [], \"temperature\": 0.0, \"avg_logprob\": 0.0,"), out)
        let back = try! TranscriptReader.read(out)
        XCTAssertEqual(back.segments.map(\.avgLogprob), [-0.25, nil])
        XCTAssertEqual(back.segments.map(\.tokens), [[13048, 13], nil])
        XCTAssertEqual(TranscriptRenderer.render(back, as: .verboseJSON), out)
    }
}
