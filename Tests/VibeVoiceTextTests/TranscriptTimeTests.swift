import Foundation
import XCTest
@testable import VibeVoiceText

/// Times too large for a double, absurd times and not-finite times: read as missing (with a warning), and
/// never written as anything but a finite number in any format.
final class TranscriptTimeTests: XCTestCase {
    static let fourHundredDigits = "1" + String(repeating: "0", count: 399)

    func testAbsurdTimesInModelOutputAreReplacedWithAWarning() {
        let raw = """
        assistant
        [{"Start":0,"End":2.5,"Speaker":0,"Content":"first"},\
        {"Start":"1e306:00:00","End":\(Self.fourHundredDigits),"Speaker":1,"Content":"second"},\
        {"Start":1e306,"End":1e400,"Speaker":0,"Content":"third"},\
        {"Start":4,"End":-1e10,"Speaker":0,"Content":"fourth"}]
        """
        let t = TranscriptParser.parse(raw)
        // No segment is lost: the text is kept, each unusable time is treated as missing.
        XCTAssertEqual(t.segments.map(\.text), ["first", "second", "third", "fourth"])
        XCTAssertEqual(t.segments.map(\.start), [0, 2.5, 2.5, 4])
        XCTAssertEqual(t.segments.map(\.end), [2.5, 2.5, 2.5, 4])
        XCTAssertEqual(t.warnings.count, 1)
        XCTAssertTrue(t.warnings[0].hasPrefix("5 time(s)"), t.warnings[0])

        // The streaming parser finds the same.
        var incremental = IncrementalSegmentParser()
        for ch in raw { _ = incremental.append(String(ch)) }
        XCTAssertEqual(incremental.segments, t.segments)
        XCTAssertEqual(incremental.finish().warnings, t.warnings)
    }

    func testUsableTimesGiveNoWarning() {
        let t = TranscriptParser.parse(#"[{"Start":0,"End":"999999999.5","Content":"a"},{"Start":-2,"End":1,"Content":"b"}]"#)
        XCTAssertEqual(t.segments.map(\.end), [999_999_999.5, 1])
        XCTAssertEqual(t.warnings, [])
    }

    func testSavedVerboseJSONWithAbsurdDurationAndTimes() throws {
        let saved = """
        {"text": "a", "duration": 1e400, "truncated": false, "warnings": ["earlier note"],
         "segments": [{"id": 0, "start": 1e300, "end": 3, "speaker": 0, "text": "a"}]}
        """
        let t = try TranscriptReader.read(saved)
        XCTAssertNil(t.duration)
        XCTAssertEqual(t.segments, [Segment(start: 0, end: 3, speaker: 0, text: "a")])
        XCTAssertEqual(t.warnings.count, 2)
        XCTAssertEqual(t.warnings[0], "earlier note")
        XCTAssertTrue(t.warnings[1].hasPrefix("2 time(s)"), t.warnings[1])
        // verbose_json carries the warnings, and reads them back.
        let rendered = TranscriptRenderer.render(t, as: .verboseJSON)
        XCTAssertEqual(try TranscriptReader.read(rendered).warnings, t.warnings)
    }

    /// Whatever a library user puts in a segment, every format writes finite numbers only.
    func testEveryFormatWritesOnlyFiniteTimes() throws {
        let wild: [Double] = [.nan, .infinity, -.infinity, 1e306, -1e306, 1e9 + 0.5, .greatestFiniteMagnitude, 5.86]
        var segments: [Segment] = []
        for (i, a) in wild.enumerated() {
            segments.append(Segment(start: a, end: wild[(i + 3) % wild.count], speaker: i, text: "s\(i)"))
        }
        let t = Transcript(segments: segments, duration: .infinity)
        for format in OutputFormat.allCases {
            let out = TranscriptRenderer.render(t, as: format)
            for bad in ["inf", "nan", "NaN", "e+", "-"] where !(bad == "-" && (format == .srt || format == .vtt)) {
                XCTAssertFalse(out.contains(bad), "\(format) wrote '\(bad)':\n\(out)")
            }
            switch format {
            case .json, .verboseJSON, .diarizedJSON:
                let parsed = try JSONSerialization.jsonObject(with: Data(out.utf8))
                let segs = format == .json ? parsed as? [[String: Any]]
                    : (parsed as? [String: Any])?["segments"] as? [[String: Any]]
                let times = try XCTUnwrap(segs).flatMap { [$0["start"], $0["end"]] }
                XCTAssertEqual(times.count, 2 * wild.count)
                for case let x as Double in times { XCTAssertTrue(x >= 0 && x <= TranscriptTime.maximum, "\(x)") }
                XCTAssertEqual(times.compactMap { $0 as? Double }.count, times.count, "every time is a number")
            case .srt, .vtt:
                // Every timestamp is HH+:MM:SS[,.]mmm with at most 277777 hours (10^9 s).
                let stamp = try NSRegularExpression(pattern: #"^(\d{2,6}):[0-5]\d:[0-5]\d[,.]\d{3} --> (\d{2,6}):[0-5]\d:[0-5]\d[,.]\d{3}$"#)
                let lines = out.split(separator: "\n").filter { $0.contains("-->") }
                XCTAssertEqual(lines.count, wild.count)
                for line in lines {
                    let l = String(line)
                    XCTAssertNotNil(stamp.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)), l)
                }
            case .rttm:
                for line in out.split(separator: "\n") {
                    let f = line.split(separator: " ")
                    let onset = try XCTUnwrap(Double(f[3])), length = try XCTUnwrap(Double(f[4]))
                    XCTAssertTrue(onset >= 0 && length > 0 && onset + length <= TranscriptTime.maximum, String(line))
                }
            case .text:
                break
            }
        }
    }

    func testClamping() {
        XCTAssertEqual(TranscriptTime.clamped(.nan), 0)
        XCTAssertEqual(TranscriptTime.clamped(-.infinity), 0)
        XCTAssertEqual(TranscriptTime.clamped(-3), 0)
        XCTAssertEqual(TranscriptTime.clamped(.infinity), 1e9)
        XCTAssertEqual(TranscriptTime.clamped(12.5), 12.5)
        XCTAssertEqual(RenderJSON.seconds(1e306), "1000000000.0")
        XCTAssertTrue(TranscriptTime.isUsable(-1e9) && !TranscriptTime.isUsable(1e9.nextUp) && !TranscriptTime.isUsable(.nan))
    }

    // MARK: - subtitles and RTTM

    func testLenientLineBreaksBecomeSpacesInSubtitles() {
        let text = "one\u{2028}two\u{2029}three\u{85}four\u{0B}five\u{0C}six\u{1C}seven"
        let t = Transcript(segments: [Segment(start: 0, end: 1, speaker: 0, text: text)])
        XCTAssertEqual(TranscriptRenderer.render(t, as: .srt),
                       "1\n00:00:00,000 --> 00:00:01,000\n[Speaker 0] one two three four five six seven\n\n")
        XCTAssertEqual(TranscriptRenderer.render(t, as: .vtt),
                       "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Speaker 0>one two three four five six seven\n")
        // A cue made only of such characters is empty, so it is not written (a blank line would end the cue).
        let blank = Transcript(segments: [Segment(start: 0, end: 1, speaker: 0, text: "\u{2028}\u{2029}")])
        XCTAssertEqual(TranscriptRenderer.render(blank, as: .srt), "")
        // JSON keeps the text as it is.
        XCTAssertTrue(TranscriptRenderer.render(t, as: .json).contains("one\u{2028}two"))
    }

    func testRTTMWritesOnlyTurnsOfPositiveLength() {
        let t = Transcript(segments: [
            Segment(start: 1, end: 1, speaker: 0, text: "zero"),
            Segment(start: 2, end: 2.0004, speaker: 0, text: "rounds to zero"),
            Segment(start: 3, end: 2, speaker: 1, text: "reversed"),
            Segment(start: 4, end: 4.001, speaker: 1, text: "one millisecond"),
        ])
        XCTAssertEqual(TranscriptRenderer.render(t, as: .rttm),
                       "SPEAKER audio 1 4.000 0.001 <NA> <NA> speaker_1 <NA> <NA>\n")
    }
}
