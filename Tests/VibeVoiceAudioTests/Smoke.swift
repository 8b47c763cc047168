import XCTest

final class AudioSmokeTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
