import XCTest
@testable import VibeVoiceText

final class TranscriptIncrementalTests: XCTestCase {
    static let samples: [String] = [
        TranscriptParserTests.reference,
        "<|im_start|>assistant\n```json\n[{\"Start time\":\"00:00:01.5\",\"End time\":2,\"Speaker ID\":\"1\",\"Content\":\"Grüße \\u4f60\\ud83c\\udf89\"},\n {\"Start\":2,\"End\":3.25,\"Content\":\"[Music]\"}]\n```<|im_end|>",
        "[{\"Start\":0,\"End\":1,\"Content\":\"a\"},{\"Start\":1,\"End\" 2,\"Content\":\"bad\"},{\"Start\":2,\"End\":3,\"Content\":\"c {x}\"}]",
        "assistant\n[{\"Start\":0,\"End\":1,\"Speaker\":0,\"Content\":\"one\"},{\"Start\":1,\"End\":2,\"Speaker\":0,\"Content\":\"la la la",
        "Hello [Music] there [ {not json} [{\"Start\":1,\"End\":2,\"Content\":\"late\"}] [{\"Start\":3,\"End\":4,\"Content\":\"ignored\"}]",
        "plain text, no list",
    ]

    func testCharByCharMatchesFullParse() {
        for raw in Self.samples {
            var p = IncrementalSegmentParser()
            var streamed: [Segment] = []
            var prefix = ""
            for ch in raw {
                streamed += p.append(String(ch))
                prefix.append(ch)
                // At every point, what has streamed equals the one-shot parse of the text so far.
                XCTAssertEqual(p.segments, TranscriptParser.parse(prefix).segments, prefix)
            }
            XCTAssertEqual(streamed, TranscriptParser.parse(raw).segments, raw)
            XCTAssertEqual(p.segments, streamed)
            XCTAssertEqual(p.finish(), TranscriptParser.parse(raw))
        }
    }

    func testByteByByteMatchesFullParse() {
        for raw in Self.samples {
            var p = IncrementalSegmentParser()
            var streamed: [Segment] = []
            for b in raw.utf8 { streamed += p.appendUTF8([b]) }   // splits multi-byte characters
            XCTAssertEqual(streamed, TranscriptParser.parse(raw).segments, raw)
            XCTAssertEqual(p.text, raw)
        }
    }

    func testRandomChunksMatchFullParse() {
        var rng = SplitMix(seed: 7)
        for raw in Self.samples {
            for _ in 0..<20 {
                var p = IncrementalSegmentParser()
                var streamed: [Segment] = []
                var rest = Substring(raw)
                while !rest.isEmpty {
                    let n = Int(rng.next() % 9) + 1
                    streamed += p.append(String(rest.prefix(n)))
                    rest = rest.dropFirst(n)
                }
                XCTAssertEqual(streamed, TranscriptParser.parse(raw).segments, raw)
            }
        }
    }

    func testRunawayStringStreamsToTheSameResult() {
        // A repetition loop inside one Content string, streamed a token (3 bytes) at a time.
        let head = "assistant\n[{\"Start\":0,\"End\":1,\"Speaker\":0,\"Content\":\"ok\"},{\"Start\":1,\"End\":2,\"Speaker\":0,\"Content\":\""
        let raw = head + String(repeating: "la ", count: 40_000)
        var p = IncrementalSegmentParser()
        var streamed = p.append(head)
        for _ in 0..<40_000 { streamed += p.append("la ") }
        XCTAssertEqual(streamed, [Segment(start: 0, end: 1, speaker: 0, text: "ok")])
        streamed += p.append("\"}]")
        XCTAssertEqual(streamed.count, 2)
        XCTAssertEqual(streamed.last?.text.count, 120_000)
        XCTAssertEqual(streamed, TranscriptParser.parse(raw + "\"}]").segments)
        XCTAssertTrue(p.isListClosed)
    }

    func testSegmentsArriveWhenTheirObjectCloses() {
        var p = IncrementalSegmentParser()
        XCTAssertEqual(p.append("assistant\n[{\"Start\":0,\"End\":1,"), [])
        XCTAssertEqual(p.append("\"Speaker\":0,\"Content\":\"a}\""), [])
        XCTAssertEqual(p.append("}"), [Segment(start: 0, end: 1, speaker: 0, text: "a}")])
        XCTAssertFalse(p.isListClosed)
        XCTAssertEqual(p.append(",{\"Start\":1,\"End\":2,\"Content\":\"b\"}]"), [Segment(start: 1, end: 2, speaker: nil, text: "b")])
        XCTAssertTrue(p.isListClosed)
        XCTAssertEqual(p.append("[{\"Start\":9,\"End\":9,\"Content\":\"after\"}]"), [])
    }
}

/// A small deterministic generator for test chunk sizes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
