import XCTest
@testable import VibeVoiceText

final class TranscriptParserTests: XCTestCase {
    /// The released checkpoint's greedy output for the 5.86 s LibriSpeech clip (special tokens skipped).
    static let reference = "assistant\n[{\"Start\":0,\"End\":5.86,\"Speaker\":0,\"Content\":\"Mr. Quilter is the apostle "
        + "of the middle classes, and we are glad to welcome his gospel.\"}]\n"
    static let referenceSegment = Segment(
        start: 0, end: 5.86, speaker: 0,
        text: "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.")

    func testReferenceOutput() {
        let t = TranscriptParser.parse(Self.reference)
        XCTAssertEqual(t.segments, [Self.referenceSegment])
        XCTAssertFalse(t.isTruncated)
        XCTAssertNil(t.plainText)
        XCTAssertEqual(t.rawText, Self.reference)
        XCTAssertEqual(t.text, Self.referenceSegment.text)
    }

    func testSpecialTokenFrameAndWhitespace() {
        let raw = "  <|im_start|>assistant\n[{\"Start\":0,\"End\":5.86,\"Speaker\":0,\"Content\":\"Mr. Quilter is the "
            + "apostle of the middle classes, and we are glad to welcome his gospel.\"}]<|im_end|>\n<|endoftext|>\n"
        let t = TranscriptParser.parse(raw)
        XCTAssertEqual(t.segments, [Self.referenceSegment])
        XCTAssertFalse(t.isTruncated)
        XCTAssertEqual(TranscriptParser.cleaned(raw).first, "[")
        XCTAssertEqual(TranscriptParser.cleaned(raw).last, "]")
    }

    func testCodeFences() {
        let raw = "```json\n[{\"Start\": 1, \"End\": 2, \"Speaker\": 1, \"Content\": \"hi\"}]\n```"
        let t = TranscriptParser.parse(raw)
        XCTAssertEqual(t.segments, [Segment(start: 1, end: 2, speaker: 1, text: "hi")])
        XCTAssertEqual(TranscriptParser.cleaned(raw), "[{\"Start\": 1, \"End\": 2, \"Speaker\": 1, \"Content\": \"hi\"}]")
        let bare = TranscriptParser.parse("assistant\n```\n[{\"Start\":1,\"End\":2,\"Content\":\"x\"}]```<|im_end|>")
        XCTAssertEqual(bare.segments, [Segment(start: 1, end: 2, speaker: nil, text: "x")])
    }

    func testKeyVariants() {
        let raw = #"[{"Start time":0.5,"End time":1.25,"Speaker ID":2,"Content":"a"},"#
            + #"{"start":2,"end":3,"speaker":1,"text":"b"},"#
            + #"{"START_TIME":4,"end-time":5,"speaker_id":0,"CONTENT":"c"}]"#
        let t = TranscriptParser.parse(raw)
        XCTAssertEqual(t.segments, [
            Segment(start: 0.5, end: 1.25, speaker: 2, text: "a"),
            Segment(start: 2, end: 3, speaker: 1, text: "b"),
            Segment(start: 4, end: 5, speaker: 0, text: "c"),
        ])
    }

    func testNumbersAsIntsFloatsAndStrings() {
        let raw = #"[{"Start":0,"End":"1.5","Speaker":"1","Content":"a"},"#
            + #"{"Start":"00:01:02.5","End":"01:03,25","Speaker":"Speaker 3","Content":"b"},"#
            + #"{"Start":1e1,"End":"12.5s","Speaker":2.0,"Content":"c"}]"#
        let t = TranscriptParser.parse(raw)
        XCTAssertEqual(t.segments, [
            Segment(start: 0, end: 1.5, speaker: 1, text: "a"),
            Segment(start: 62.5, end: 63.25, speaker: 3, text: "b"),
            Segment(start: 10, end: 12.5, speaker: 2, text: "c"),
        ])
    }

    func testTimeStrings() {
        XCTAssertEqual(SegmentDecoding.seconds(fromText: "01:00:00"), 3600)
        XCTAssertEqual(SegmentDecoding.seconds(fromText: "10:00:00,001"), 36000.001)
        XCTAssertEqual(SegmentDecoding.seconds(fromText: " 7 "), 7)
        XCTAssertNil(SegmentDecoding.seconds(fromText: "soon"))
        XCTAssertNil(SegmentDecoding.seconds(fromText: "1:2:3:4"))
        XCTAssertNil(SegmentDecoding.seconds(fromText: ""))
        XCTAssertNil(SegmentDecoding.seconds(fromText: "00:-1:00"))
    }

    func testMissingAndNullSpeaker() {
        let t = TranscriptParser.parse(#"[{"Start":0,"End":1,"Content":"a"},{"Start":1,"End":2,"Speaker":null,"Content":"b"}]"#)
        XCTAssertEqual(t.segments.map(\.speaker), [nil, nil])
        XCTAssertEqual(t.segments.map(\.text), ["a", "b"])
    }

    func testMissingTimesKeepText() {
        // A missing start takes the previous end; a missing end takes the start.
        let t = TranscriptParser.parse(#"[{"Start":1,"End":2,"Content":"a"},{"Content":"b"},{"Start":5,"Content":"c"}]"#)
        XCTAssertEqual(t.segments, [
            Segment(start: 1, end: 2, speaker: nil, text: "a"),
            Segment(start: 2, end: 2, speaker: nil, text: "b"),
            Segment(start: 5, end: 5, speaker: nil, text: "c"),
        ])
    }

    func testNonASCIIAndEscapes() {
        let raw = #"[{"Start":0,"End":1,"Speaker":0,"Content":"Grüße, 你好 🎉"},"#
            + #"{"Start":1,"End":2,"Speaker":0,"Content":"\u00fcber \u4f60\ud83c\udf89 \"q\" a\\b\/c\nd\te"},"#
            + #"{"Start":2,"End":3,"Speaker":0,"Content":"lone \ud83c end \q"}]"#
        let t = TranscriptParser.parse(raw)
        XCTAssertEqual(t.segments.map(\.text), [
            "Grüße, 你好 🎉",
            "über 你🎉 \"q\" a\\b/c\nd\te",
            "lone \u{FFFD} end q",
        ])
    }

    func testBracketedTagsAreText() {
        let t = TranscriptParser.parse(#"[{"Start":0,"End":3,"Speaker":0,"Content":"[Music]"},{"Start":3,"End":4,"Speaker":0,"Content":"[Silence]"}]"#)
        XCTAssertEqual(t.segments.map(\.text), ["[Music]", "[Silence]"])
        XCTAssertEqual(t.text, "[Music] [Silence]")
    }

    func testTruncatedKeepsCompleteSegments() {
        let full = #"assistant\#n[{"Start":0,"End":1.5,"Speaker":0,"Content":"one"},{"Start":1.5,"End":3,"Speaker":1,"Content":"two"},{"Start":3,"End":4,"Speaker":0,"Content":"three"}]"#
        let expected = [
            Segment(start: 0, end: 1.5, speaker: 0, text: "one"),
            Segment(start: 1.5, end: 3, speaker: 1, text: "two"),
            Segment(start: 3, end: 4, speaker: 0, text: "three"),
        ]
        let bytes = Array(full.utf8)
        let closeIndex = bytes.count - 1
        let secondEnd = full.utf8.count - #",{"Start":3,"End":4,"Speaker":0,"Content":"three"}]"#.utf8.count
        let firstEnd = full.utf8.count - #",{"Start":1.5,"End":3,"Speaker":1,"Content":"two"},{"Start":3,"End":4,"Speaker":0,"Content":"three"}]"#.utf8.count
        // Every cut point before the closing `]` is truncated and keeps exactly the complete segments.
        for cut in (full.utf8.count - full.drop(while: { $0 != "[" }).utf8.count + 1)..<closeIndex {
            let t = TranscriptParser.parse(String(decoding: bytes[..<cut], as: UTF8.self))
            let complete = cut >= closeIndex - 0 ? 3 : (cut >= secondEnd ? 2 : (cut >= firstEnd ? 1 : 0))
            XCTAssertTrue(t.isTruncated, "cut \(cut)")
            XCTAssertEqual(t.segments, Array(expected.prefix(complete)), "cut \(cut)")
            if complete == 0 { XCTAssertNotNil(t.plainText, "cut \(cut): the partial text is kept") }
            else { XCTAssertNil(t.plainText) }
        }
        let whole = TranscriptParser.parse(full)
        XCTAssertFalse(whole.isTruncated)
        XCTAssertEqual(whole.segments, expected)
    }

    func testTruncatedInsideStringWithEscapesAndFrames() {
        let t = TranscriptParser.parse(#"<|im_start|>assistant\#n```json\#n[{"Start":0,"End":1,"Speaker":0,"Content":"ok"},{"Start":1,"End":2,"Speaker":0,"Content":"la la \u00"#)
        XCTAssertTrue(t.isTruncated)
        XCTAssertEqual(t.segments, [Segment(start: 0, end: 1, speaker: 0, text: "ok")])
        let justOpened = TranscriptParser.parse("assistant\n[")
        XCTAssertTrue(justOpened.isTruncated)
        XCTAssertTrue(justOpened.segments.isEmpty)
        XCTAssertEqual(justOpened.plainText, "[")
    }

    func testPlainTextIsKept() {
        let t = TranscriptParser.parse("assistant\nHello there, [Music] and more.\n<|im_end|>")
        XCTAssertTrue(t.segments.isEmpty)
        XCTAssertEqual(t.plainText, "Hello there, [Music] and more.")
        XCTAssertFalse(t.isTruncated)
        XCTAssertEqual(t.text, "Hello there, [Music] and more.")
    }

    func testJSONObjectAndGarbageAreKeptAsPlainText() {
        let object = #"{"Start":0,"End":1,"Content":"not in a list"}"#
        XCTAssertEqual(TranscriptParser.parse(object).plainText, object)
        XCTAssertTrue(TranscriptParser.parse(object).segments.isEmpty)
        let garbage = "\u{1}\u{2}]]}}{{[[ \\\" ✓"
        let g = TranscriptParser.parse(garbage)
        XCTAssertTrue(g.segments.isEmpty)
        XCTAssertEqual(g.plainText, TranscriptText.trimmed(garbage))
        XCTAssertEqual(g.rawText, garbage)
        // A list of things that are not segments keeps its text too.
        XCTAssertEqual(TranscriptParser.parse(#"[{"a":1},{"b":2}]"#).plainText, #"[{"a":1},{"b":2}]"#)
        XCTAssertEqual(TranscriptParser.parse(#"["x", "y"]"#).plainText, #"["x", "y"]"#)
    }

    func testEmptyInputsAndEmptyList() {
        let empty = TranscriptParser.parse("")
        XCTAssertTrue(empty.segments.isEmpty)
        XCTAssertNil(empty.plainText)
        XCTAssertFalse(empty.isTruncated)
        let list = TranscriptParser.parse("assistant\n[ ]\n")
        XCTAssertTrue(list.segments.isEmpty)
        XCTAssertNil(list.plainText)
        XCTAssertFalse(list.isTruncated)
        XCTAssertEqual(list.text, "")
    }

    func testTextBeforeListAndTolerantCommas() {
        let t = TranscriptParser.parse(#"Here you go: [ {"Start":0,"End":1,"Content":"a",} ,, {"Start":1,"End":2,"Content":"b"} {"Start":2,"End":3,"Content":"c"},] trailing words"#)
        XCTAssertEqual(t.segments.map(\.text), ["a", "b", "c"])
        XCTAssertFalse(t.isTruncated)
    }

    func testDamagedElementIsSkipped() {
        let t = TranscriptParser.parse(#"[{"Start":0,"End":1,"Content":"a"},{"Start":1,"End" 2,"Content":"bad"},{"Start":2,"End":3,"Content":"c"}]"#)
        XCTAssertEqual(t.segments.map(\.text), ["a", "c"])
        XCTAssertFalse(t.isTruncated)
    }

    func testDeepNestingIsNotACrash() {
        let deep = "[{\"Start\":0,\"End\":1,\"Content\":\"a\",\"x\":" + String(repeating: "[", count: 100_000)
            + String(repeating: "]", count: 100_000) + "},{\"Start\":1,\"End\":2,\"Content\":\"b\"}]"
        let t = TranscriptParser.parse(deep)
        XCTAssertEqual(t.segments.map(\.text), ["b"])
    }

    func testJoinedTextMatchesTransformers() {
        let t = TranscriptParser.parse(#"[{"Start":0,"End":1,"Speaker":0,"Content":" a"},{"Start":1,"End":2,"Speaker":1,"Content":"b "}]"#)
        XCTAssertEqual(t.text, "a b")   // " ".join(contents).strip()
    }

    // MARK: complete-segment prefix (repetition-loop recovery)

    func testCompleteSegmentPrefix() {
        let head = #"<|im_start|>assistant\#n[{"Start":0,"End":1,"Speaker":0,"Content":"a"},"#
        let loop = #"{"Start":1,"End":2,"Speaker":0,"Content":"la la la la la la"#
        XCTAssertEqual(TranscriptParser.completeSegmentPrefix(head + loop), head)
        XCTAssertEqual(TranscriptParser.completeSegmentPrefixLength(head + loop), head.utf8.count)
        // Without a comma after it, the prefix ends after the `}`.
        let closed = #"[{"Start":0,"End":1,"Content":"ü"}]"#
        XCTAssertEqual(TranscriptParser.completeSegmentPrefix(closed), #"[{"Start":0,"End":1,"Content":"ü"}"#)
        // Spaces before the comma are part of the prefix.
        XCTAssertEqual(TranscriptParser.completeSegmentPrefix(#"[{"Start":0,"End":1,"Content":"a"} , {"#),
                       #"[{"Start":0,"End":1,"Content":"a"} ,"#)
        XCTAssertNil(TranscriptParser.completeSegmentPrefixLength(#"[{"Start":0,"End":1,"Content":"a"#))
        XCTAssertNil(TranscriptParser.completeSegmentPrefixLength("plain words"))
    }
}
