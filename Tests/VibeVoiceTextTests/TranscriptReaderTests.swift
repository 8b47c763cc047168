import XCTest
@testable import VibeVoiceText

final class TranscriptReaderTests: XCTestCase {
    func testReadsRawModelOutput() throws {
        let t = try TranscriptReader.read(TranscriptParserTests.reference)
        XCTAssertEqual(t, TranscriptParser.parse(TranscriptParserTests.reference))
        XCTAssertEqual(t.segments, [TranscriptParserTests.referenceSegment])
    }

    func testReadsOwnJSON() throws {
        let json = TranscriptRenderer.render(RenderTests.two, as: .json)
        let t = try TranscriptReader.read(json)
        XCTAssertEqual(t.segments, RenderTests.two.segments)
        XCTAssertFalse(t.isTruncated)
        XCTAssertNil(t.plainText)
        XCTAssertEqual(t.rawText, json)
    }

    func testReadsVerboseJSONKeepingExtras() throws {
        var original = RenderTests.two
        original.duration = 9.5
        original.tokens = [151644, 77091, 198, 58]
        original.promptTokens = 103
        original.isTruncated = true
        let t = try TranscriptReader.read(TranscriptRenderer.render(original, as: .verboseJSON))
        XCTAssertEqual(t.segments, original.segments)
        XCTAssertEqual(t.duration, 9.5)
        XCTAssertEqual(t.tokens, [151644, 77091, 198, 58])
        XCTAssertEqual(t.promptTokens, 103)
        XCTAssertTrue(t.isTruncated)
        // Rendering what was read gives the same file back.
        XCTAssertEqual(TranscriptRenderer.render(t, as: .verboseJSON), TranscriptRenderer.render(original, as: .verboseJSON))
    }

    func testReadsVerboseJSONWithoutSegmentsAsPlainText() throws {
        let t = try TranscriptReader.read(#"{"text": "only words", "segments": [], "duration": "12.5"}"#)
        XCTAssertTrue(t.segments.isEmpty)
        XCTAssertEqual(t.plainText, "only words")
        XCTAssertEqual(t.duration, 12.5)
        XCTAssertNil(t.tokens)
    }

    func testReadsForeignVerboseJSON() throws {
        // OpenAI-style, extra keys, no speaker.
        let text = #"{"task":"transcribe","language":"en","duration":3.0,"text":"a b","segments":[{"id":0,"seek":0,"start":0.0,"end":1.5,"text":"a","tokens":[1,2]},{"id":1,"start":1.5,"end":3.0,"text":"b"}]}"#
        let t = try TranscriptReader.read(text)
        XCTAssertEqual(t.segments, [Segment(start: 0, end: 1.5, speaker: nil, text: "a"),
                                    Segment(start: 1.5, end: 3, speaker: nil, text: "b")])
        XCTAssertEqual(t.duration, 3)
    }

    func testObjectWithoutSegmentsIsPlainText() throws {
        let text = #"{"hello": "world"}"#
        let t = try TranscriptReader.read(text)
        XCTAssertTrue(t.segments.isEmpty)
        XCTAssertEqual(t.plainText, text)
    }
}
