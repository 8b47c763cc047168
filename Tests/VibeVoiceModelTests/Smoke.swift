import XCTest

final class ModelSmokeTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
