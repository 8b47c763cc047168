import XCTest

final class CLISmokeTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
