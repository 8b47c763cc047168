import XCTest

final class TextSmokeTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
