import Foundation
import XCTest
@testable import VibeVoiceText

/// Deeply nested input: reading stays linear, the model-output parser skips the element (with a warning),
/// and the saved-transcript reader refuses it with a clear error.
final class TranscriptNestingTests: XCTestCase {
    static func nested(_ levels: Int, closed: Bool) -> String {
        #"[{"Start":0,"End":1,"Content":"x","a":"# + String(repeating: #"{"a":"#, count: levels)
            + (closed ? "1" + String(repeating: "}", count: levels) + #"},{"Start":1,"End":2,"Content":"after"}]"# : "")
    }

    func testMillionsOfNestedObjectsParseInLinearTime() {
        // 200 000 levels (1.2 MB) took 57 s in `convert` when each resynchronisation re-read the nested objects;
        // linear reading takes well under a second here. The bound only catches a return to quadratic time.
        for closed in [true, false] {
            let text = Self.nested(200_000, closed: closed)
            let start = Date()
            let t = TranscriptParser.parse(text)
            let seconds = Date().timeIntervalSince(start)
            XCTAssertLessThan(seconds, 10, "closed: \(closed)")
            XCTAssertEqual(t.segments.map(\.text), closed ? ["after"] : [])
            XCTAssertEqual(t.warnings.count, 1)
            XCTAssertTrue(t.warnings[0].contains("deeper than 256 levels at byte 1313"), t.warnings[0])
        }
    }

    func testReaderRefusesTooDeepInput() {
        let offset = 38 + 5 * 255   // the 256th nested `{` (the element itself is level 0)
        for text in [Self.nested(1000, closed: true), "{\"segments\": [" + String(repeating: "[", count: 300) + "]}"] {
            XCTAssertThrowsError(try TranscriptReader.read(text)) { error in
                guard case .tooDeep(let at, 256)? = error as? TranscriptReadError else { return XCTFail("\(error)") }
                if text.hasPrefix("[") { XCTAssertEqual(at, offset) }
                XCTAssertTrue("\(error)".contains("nested deeper than 256 levels at byte"), "\(error)")
            }
        }
        // 250 levels are fine.
        XCTAssertEqual(try TranscriptReader.read(Self.nested(250, closed: true)).segments.map(\.text), ["x", "after"])
    }

    func testResynchronisationStartsAfterTheDamage() {
        // The damaged first element holds a complete nested object before the damage; the walk resumes after
        // the damage, so only the real next segment is found.
        let text = #"[{"Start":0,"Content":"a","n":{"Start":5,"Content":"nested"} oops},{"Start":1,"End":2,"Content":"b"}]"#
        let t = TranscriptParser.parse(text)
        XCTAssertEqual(t.segments.map(\.text), ["b"])
        var incremental = IncrementalSegmentParser()
        for byte in text.utf8 { _ = incremental.appendUTF8([byte]) }
        XCTAssertEqual(incremental.segments, t.segments)
    }
}
