import XCTest
@testable import VibeVoiceText

final class RenderTests: XCTestCase {
    static let two = Transcript(segments: [
        Segment(start: 0, end: 5.86, speaker: 0, text: "Mr. Quilter is the apostle."),
        Segment(start: 5.86, end: 9.1, speaker: 1, text: "Grüße & <tags> -->"),
    ], rawText: "")

    func testFormatNames() {
        XCTAssertEqual(OutputFormat.allCases.map(\.rawValue), ["json", "verbose_json", "diarized_json", "text", "srt", "vtt", "rttm"])
        XCTAssertEqual(OutputFormat(name: "diarized-json"), .diarizedJSON)
        XCTAssertEqual(OutputFormat(name: "VERBOSE-JSON"), .verboseJSON)
        XCTAssertEqual(OutputFormat(name: "Srt"), .srt)
        XCTAssertEqual(OutputFormat(name: "txt"), .text)
        XCTAssertNil(OutputFormat(name: "docx"))
        XCTAssertEqual(OutputFormat(fileExtension: "TXT"), .text)
        XCTAssertNil(OutputFormat(fileExtension: "wav"))
    }

    func testJSONGolden() {
        XCTAssertEqual(TranscriptRenderer.render(Self.two, as: .json), """
        [
          {"start": 0.0, "end": 5.86, "speaker": 0, "text": "Mr. Quilter is the apostle."},
          {"start": 5.86, "end": 9.1, "speaker": 1, "text": "Grüße & <tags> -->"}
        ]

        """)
    }

    func testJSONNumbersAndEscapes() {
        let t = Transcript(segments: [
            Segment(start: 0.1 + 0.2, end: 60 + 5.86, speaker: nil, text: "q\"b\\s\nt\u{1}/é"),
            Segment(start: -0.0, end: 3600.0004, speaker: 12, text: ""),
        ])
        XCTAssertEqual(0.1 + 0.2, 0.30000000000000004)   // the noise the writer must not show
        XCTAssertEqual(TranscriptRenderer.render(t, as: .json), """
        [
          {"start": 0.3, "end": 65.86, "speaker": null, "text": "q\\"b\\\\s\\nt\\u0001/é"},
          {"start": 0.0, "end": 3600.0, "speaker": 12, "text": ""}
        ]

        """)
        XCTAssertEqual(TranscriptRenderer.render(Transcript(segments: []), as: .json), "[]\n")
    }

    func testJSONIsValidAndReadsBack() throws {
        for format in [OutputFormat.json, .verboseJSON] {
            let out = TranscriptRenderer.render(Self.two, as: format)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(out.utf8)), "\(format)")
            XCTAssertEqual(try TranscriptReader.read(out).segments, Self.two.segments, "\(format)")
        }
    }

    func testVerboseJSONGolden() {
        var t = Self.two
        t.duration = 9.5
        t.tokens = [151644, 77091, 198]
        t.promptTokens = 103
        t.temperature = 0.3
        // compression_ratio values: Python's len(b) / len(zlib.compress(b)) for each text's UTF-8 bytes.
        XCTAssertEqual(TranscriptRenderer.render(t, as: .verboseJSON), """
        {
          "task": "transcribe",
          "language": "unknown",
          "duration": 9.5,
          "text": "Mr. Quilter is the apostle. Grüße & <tags> -->",
          "truncated": false,
          "segments": [
            {"id": 0, "seek": 0, "start": 0.0, "end": 5.86, "speaker": 0, "text": "Mr. Quilter is the apostle.", "tokens": [], "temperature": 0.3, "avg_logprob": 0.0, "compression_ratio": 0.771429, "no_speech_prob": 0.0},
            {"id": 1, "seek": 0, "start": 5.86, "end": 9.1, "speaker": 1, "text": "Grüße & <tags> -->", "tokens": [], "temperature": 0.3, "avg_logprob": 0.0, "compression_ratio": 0.714286, "no_speech_prob": 0.0}
          ],
          "usage": {"type": "duration", "seconds": 9.5},
          "tokens": [151644, 77091, 198],
          "prompt_tokens": 103
        }

        """)
        let bare = Transcript(segments: [], rawText: "x", isTruncated: true, plainText: "just words")
        XCTAssertEqual(TranscriptRenderer.render(bare, as: .verboseJSON), """
        {
          "task": "transcribe",
          "language": "unknown",
          "duration": 0.0,
          "text": "just words",
          "truncated": true,
          "segments": []
        }

        """)
    }

    func testDiarizedJSONGolden() {
        var t = Self.two
        t.duration = 9.5
        t.segments.append(Segment(start: 9.1, end: 9.5, speaker: nil, text: "[Music]"))
        XCTAssertEqual(TranscriptRenderer.render(t, as: .diarizedJSON), """
        {
          "task": "transcribe",
          "duration": 9.5,
          "text": "Mr. Quilter is the apostle. Grüße & <tags> --> [Music]",
          "segments": [
            {"type": "transcript.text.segment", "id": "seg_0", "start": 0.0, "end": 5.86, "speaker": "A", "text": "Mr. Quilter is the apostle."},
            {"type": "transcript.text.segment", "id": "seg_1", "start": 5.86, "end": 9.1, "speaker": "B", "text": "Grüße & <tags> -->"},
            {"type": "transcript.text.segment", "id": "seg_2", "start": 9.1, "end": 9.5, "speaker": "unknown", "text": "[Music]"}
          ],
          "usage": {"type": "duration", "seconds": 9.5}
        }

        """)
        // Read back: letters become speaker numbers again.
        XCTAssertEqual(try TranscriptReader.read(TranscriptRenderer.render(t, as: .diarizedJSON)).segments.map(\.speaker), [0, 1, nil])
    }

    func testSpeakerLabelsAndNonSpeechTags() {
        XCTAssertEqual([0, 1, 25, 26, 27, 701, 702].map { RenderOpenAI.speakerLabel($0) }, ["A", "B", "Z", "AA", "AB", "ZZ", "AAA"])
        XCTAssertEqual(RenderOpenAI.speakerLabel(nil), "unknown")
        for n in [0, 1, 25, 26, 27, 701, 702, 18_277] {
            XCTAssertEqual(SegmentDecoding.letterLabel(RenderOpenAI.speakerLabel(n)), n)
        }
        XCTAssertTrue(RenderOpenAI.isNonSpeechTag(" [Silence] "))
        XCTAssertTrue(RenderOpenAI.isNonSpeechTag("[Unintelligible Speech]"))
        XCTAssertFalse(RenderOpenAI.isNonSpeechTag("[Music] and words"))
        XCTAssertFalse(RenderOpenAI.isNonSpeechTag("Hello"))
        let t = Transcript(segments: [Segment(start: 0, end: 1, speaker: 0, text: "[Music]")], duration: 1)
        XCTAssertTrue(TranscriptRenderer.render(t, as: .verboseJSON).contains("\"no_speech_prob\": 1.0"))
    }

    func testCompressionRatioMatchesWhisper() {
        // Python: len(b) / len(zlib.compress(b)); a repetitive text compresses well (> 2.4 flags a loop in Whisper).
        XCTAssertEqual(RenderOpenAI.compressionRatio("la la la la la la la la la la la la la la la la"), 3.357142857142857, accuracy: 1e-12)
        XCTAssertEqual(RenderOpenAI.compressionRatio("Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel."),
                       1.0864197530864197, accuracy: 1e-12)
        XCTAssertEqual(RenderOpenAI.compressionRatio(""), 0)
    }

    func testOpenAIJSONShape() {
        var t = Self.two
        XCTAssertEqual(TranscriptRenderer.openAIJSON(t), "{\"text\": \"Mr. Quilter is the apostle. Grüße & <tags> -->\"}\n")
        t.duration = 9.5
        XCTAssertEqual(TranscriptRenderer.openAIJSON(t),
                       "{\"text\": \"Mr. Quilter is the apostle. Grüße & <tags> -->\", \"usage\": {\"type\": \"duration\", \"seconds\": 9.5}}\n")
    }

    func testTextGolden() {
        XCTAssertEqual(TranscriptRenderer.render(Self.two, as: .text), "Mr. Quilter is the apostle. Grüße & <tags> -->\n")
        XCTAssertEqual(TranscriptRenderer.render(Transcript(segments: []), as: .text), "")
    }

    func testSRTGolden() {
        XCTAssertEqual(TranscriptRenderer.render(Self.two, as: .srt), """
        1
        00:00:00,000 --> 00:00:05,860
        [Speaker 0] Mr. Quilter is the apostle.

        2
        00:00:05,860 --> 00:00:09,100
        [Speaker 1] Grüße & <tags> -->


        """)
    }

    func testVTTGolden() {
        XCTAssertEqual(TranscriptRenderer.render(Self.two, as: .vtt), """
        WEBVTT

        00:00:00.000 --> 00:00:05.860
        <v Speaker 0>Mr. Quilter is the apostle.

        00:00:05.860 --> 00:00:09.100
        <v Speaker 1>Grüße &amp; &lt;tags&gt; --&gt;

        """)
    }

    func testRTTMGolden() {
        XCTAssertEqual(TranscriptRenderer.render(Self.two, as: .rttm, fileID: "meeting 1"), """
        SPEAKER meeting_1 1 0.000 5.860 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER meeting_1 1 5.860 3.240 <NA> <NA> speaker_1 <NA> <NA>

        """)
        let unknown = Transcript(segments: [Segment(start: 3, end: 3.5, speaker: nil, text: "x")])
        XCTAssertEqual(TranscriptRenderer.render(unknown, as: .rttm),
                       "SPEAKER audio 1 3.000 0.500 <NA> <NA> speaker_unknown <NA> <NA>\n")
        for line in TranscriptRenderer.render(Self.two, as: .rttm).split(separator: "\n") {
            XCTAssertEqual(line.split(separator: " ").count, 10)
        }
    }

    func testLongTimestamps() {
        let t = Transcript(segments: [
            Segment(start: 3600.5, end: 3661.25, speaker: 0, text: "one hour"),
            Segment(start: 36061.25, end: 36062, speaker: 0, text: "ten hours"),
            Segment(start: 360_000, end: 360_001.001, speaker: 0, text: "a hundred hours"),
        ])
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt), """
        1
        01:00:00,500 --> 01:01:01,250
        [Speaker 0] one hour

        2
        10:01:01,250 --> 10:01:02,000
        [Speaker 0] ten hours

        3
        100:00:00,000 --> 100:00:01,001
        [Speaker 0] a hundred hours


        """)
        XCTAssertEqual(TranscriptRenderer.render(t, as: .vtt), """
        WEBVTT

        01:00:00.500 --> 01:01:01.250
        <v Speaker 0>one hour

        10:01:01.250 --> 10:01:02.000
        <v Speaker 0>ten hours

        100:00:00.000 --> 100:00:01.001
        <v Speaker 0>a hundred hours

        """)
        XCTAssertEqual(TranscriptRenderer.render(t, as: .rttm), """
        SPEAKER audio 1 3600.500 60.750 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER audio 1 36061.250 0.750 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER audio 1 360000.000 1.001 <NA> <NA> speaker_0 <NA> <NA>

        """)
    }

    func testNegativeAndReversedTimesAreClamped() {
        let t = Transcript(segments: [
            Segment(start: -1.2, end: 0.5, speaker: 0, text: "early"),
            Segment(start: 10, end: 8, speaker: 0, text: "reversed"),
            Segment(start: -3, end: -2, speaker: 0, text: "all negative"),
            Segment(start: .nan, end: .infinity, speaker: 0, text: "not finite"),
        ])
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt), """
        1
        00:00:00,000 --> 00:00:00,500
        [Speaker 0] early

        2
        00:00:10,000 --> 00:00:10,000
        [Speaker 0] reversed

        3
        00:00:00,000 --> 00:00:00,000
        [Speaker 0] all negative

        4
        00:00:00,000 --> 277777:46:40,000
        [Speaker 0] not finite


        """)
        // Zero-length and reversed turns hold no speech: RTTM writes only the turns of positive length.
        XCTAssertEqual(TranscriptRenderer.render(t, as: .rttm), """
        SPEAKER audio 1 0.000 0.500 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER audio 1 0.000 1000000000.000 <NA> <NA> speaker_0 <NA> <NA>

        """)
        XCTAssertTrue(TranscriptRenderer.render(t, as: .json).contains(
            #"{"start": 0.0, "end": 0.5, "speaker": 0, "text": "early"}"#))
        XCTAssertTrue(TranscriptRenderer.render(t, as: .json).contains(
            #"{"start": 0.0, "end": 1000000000.0, "speaker": 0, "text": "not finite"}"#))
    }

    func testMillisecondRounding() {
        XCTAssertEqual(TranscriptRenderer.milliseconds(5.86), 5860)     // 5.86 * 1000 = 5859.999...
        XCTAssertEqual(TranscriptRenderer.milliseconds(1.001), 1001)
        XCTAssertEqual(TranscriptRenderer.milliseconds(2.0004), 2000)
        XCTAssertEqual(TranscriptRenderer.milliseconds(2.0006), 2001)
        XCTAssertEqual(TranscriptRenderer.clock(5860, separator: ","), "00:00:05,860")
        XCTAssertEqual(TranscriptRenderer.clock(3_599_999, separator: "."), "00:59:59.999")
    }

    func testSubtitleTextCleanupAndNoSpeaker() {
        let t = Transcript(segments: [
            Segment(start: 0, end: 1, speaker: nil, text: " line one\r\n\r\n line two \n"),
            Segment(start: 1, end: 2, speaker: 0, text: "  "),
            Segment(start: 2, end: 3, speaker: nil, text: "[Music]"),
        ])
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt), """
        1
        00:00:00,000 --> 00:00:01,000
        line one
        line two

        2
        00:00:02,000 --> 00:00:03,000
        [Music]


        """)
        XCTAssertEqual(TranscriptRenderer.render(t, as: .vtt), """
        WEBVTT

        00:00:00.000 --> 00:00:01.000
        line one
        line two

        00:00:02.000 --> 00:00:03.000
        [Music]

        """)
        XCTAssertEqual(TranscriptRenderer.render(t, as: .rttm).split(separator: "\n").count, 3)
    }

    func testPlainTextTranscriptInEveryFormat() {
        var t = TranscriptParser.parse("assistant\nSorry, no JSON here.")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .text), "Sorry, no JSON here.\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .json), "[]\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt), "")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .vtt), "WEBVTT\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .rttm), "")
        t.duration = 12.5
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt), "1\n00:00:00,000 --> 00:00:12,500\nSorry, no JSON here.\n\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .vtt), "WEBVTT\n\n00:00:00.000 --> 00:00:12.500\nSorry, no JSON here.\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .verboseJSON), """
        {
          "task": "transcribe",
          "language": "unknown",
          "duration": 12.5,
          "text": "Sorry, no JSON here.",
          "truncated": false,
          "segments": [],
          "usage": {"type": "duration", "seconds": 12.5}
        }

        """)
    }
}
