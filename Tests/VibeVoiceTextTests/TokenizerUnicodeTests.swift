import XCTest
@testable import VibeVoiceText

/// The split regex's letter and number classes are those of Unicode 16.0.0, as in Hugging Face `tokenizers`
/// (ids recorded by scripts/make_unicode_tables.py): the newest CJK extensions split as the reference does.
final class TokenizerUnicodeTests: XCTestCase {
    func testNewestBlocksMatchHuggingFace() throws {
        let tok = try TokenizerFixtures.qwen()
        let fixture = try XCTUnwrap(try TokenizerFixtures.json("unicode_cases.json") as? [String: Any])
        XCTAssertEqual(fixture["unicode_version"] as? String, TokenizerUnicodeTables.unicodeVersion)
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 100)
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let ids = try XCTUnwrap(c["ids"] as? [Int])
            XCTAssertEqual(tok.encode(text), ids, "U+" + text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " "))
        }
    }

    func testClassesFollowUnicode16NotTheStandardLibrary() {
        // CJK Extension J (Unicode 17.0) is a letter to a newer standard library, but not to the reference.
        let extJ = Unicode.Scalar(0x323B0)!
        XCTAssertEqual(PieceSplitter.classify(extJ) & PieceSplitter.letter, 0)
        for v: UInt32 in [0x31350, 0x323AF, 0x2EBF0, 0x2EE5D, 0x10D50, 0x4E2D, 0x41] {
            XCTAssertNotEqual(PieceSplitter.classify(Unicode.Scalar(v)!) & PieceSplitter.letter, 0, String(v, radix: 16))
        }
        XCTAssertNotEqual(PieceSplitter.classify(Unicode.Scalar(0x11BF0)!) & PieceSplitter.number, 0)   // Sunuwar digit, 16.0
        XCTAssertEqual(PieceSplitter.classify(" ") & PieceSplitter.space, PieceSplitter.space)
    }

    func testRangeTablesAreSortedAndDisjoint() {
        for table in [TokenizerUnicodeTables.letterRanges, TokenizerUnicodeTables.numberRanges] {
            XCTAssertEqual(table.count % 2, 0)
            for i in stride(from: 0, to: table.count, by: 2) {
                XCTAssertLessThanOrEqual(table[i], table[i + 1])
                if i > 0 { XCTAssertGreaterThan(table[i], table[i - 1] + 1) }
            }
        }
    }
}
