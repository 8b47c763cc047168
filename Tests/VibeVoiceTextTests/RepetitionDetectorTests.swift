import XCTest
@testable import VibeVoiceText

final class RepetitionDetectorTests: XCTestCase {
    let detector = RepetitionDetector()

    func testTenRepeatsOfATenCharacterPatternIsALoop() {
        let pattern = "the cat sa"                       // 10 characters
        XCTAssertTrue(detector.isLooping("[{\"Content\":\"" + String(repeating: pattern, count: 10)))
        XCTAssertFalse(detector.isLooping("[{\"Content\":\"" + String(repeating: pattern, count: 9)))
    }

    func testShortPatternsAndOrdinaryTextAreNotLoops() {
        XCTAssertFalse(detector.isLooping(String(repeating: "abc", count: 20)))          // 60 chars: too short in all
        XCTAssertFalse(detector.isLooping(#"[{"Start":0,"End":5.86,"Speaker":0,"Content":"Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel."}]"#))
        XCTAssertFalse(detector.isLooping(""))
    }

    func testLongerPatternsAndNonASCII() {
        let p = "こんにちは、世界。元気ですか？"                    // 15 characters
        XCTAssertTrue(detector.isLooping("x" + String(repeating: p, count: 12)))
        let long = "we are glad to welcome his gospel, "      // 35 characters; 10 × 35 = 350 ≤ 400
        XCTAssertTrue(detector.isLooping(String(repeating: long, count: 10)))
        // A loop that stopped is no longer at the end.
        XCTAssertFalse(detector.isLooping(String(repeating: long, count: 10) + "and then something else entirely happened here."))
    }
}
