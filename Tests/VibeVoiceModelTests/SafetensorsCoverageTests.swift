import Foundation
import VibeVoiceCompute
import XCTest
@testable import VibeVoiceModel

/// The tensors of a safetensors file must tile its data section exactly (no gap, overlap or trailing byte),
/// as the reference reader (`safetensors` 0.8) requires. The verdicts below are the reference's for the same
/// bytes (`scripts/check_safetensors_coverage.py` replays every case against it).
final class SafetensorsCoverageTests: TemporaryDirectoryTestCase {
    private func open(_ data: Data) throws -> SafetensorsFile {
        let url = tempDir.appendingPathComponent("c.safetensors")
        try data.write(to: url)
        return try SafetensorsFile(url: url)
    }

    private func error(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
        do {
            _ = try open(data)
            XCTFail("the file must be refused", file: file, line: line)
            return nil
        } catch {
            return error as? CheckpointError
        }
    }

    private func raw(_ header: String, data count: Int) -> Data {
        SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: count), pad: false)
    }

    /// A well-formed file whose header ends in padding spaces, with its length prefix one byte short: the
    /// JSON still parses, and without the coverage check every tensor would be read one byte early.
    func testHeaderLengthOffByOneIsRefused() throws {
        let good = SafetensorsTestWriter.file([.f32("w", [4], [1, 2, 3, 4])])
        let n = Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        XCTAssertEqual(good[8 + n - 1], 0x20, "the header must end in a padding space for this case")
        XCTAssertEqual(try open(good).tensor("w").toFloatArray(), [1, 2, 3, 4])

        var shorter = good
        shorter.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(n - 1).littleEndian) { Data($0) })
        guard case .malformedHeader(_, let detail)? = error(shorter) else { return XCTFail("off by -1") }
        XCTAssertTrue(detail.contains("1 trailing byte"), detail)
        XCTAssertTrue(detail.contains("header length"), detail)
    }

    func testGapBetweenTensorsIsRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        guard case .invalidTensor(_, "b", let detail)? = error(raw(header, data: 12)) else { return XCTFail("gap") }
        XCTAssertTrue(detail.contains("data offset 8") && detail.contains("'a' ends at data offset 4"), detail)
        XCTAssertTrue(detail.contains("4 byte(s)"), detail)
    }

    func testUnusedBytesBeforeTheFirstTensorAreRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        guard case .invalidTensor(_, "a", let detail)? = error(raw(header, data: 8)) else { return XCTFail("lead") }
        XCTAssertTrue(detail.contains("the data section starts"), detail)
    }

    func testTrailingBytesAreRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        guard case .malformedHeader(_, let detail)? = error(raw(header, data: 5)) else { return XCTFail("trailing") }
        XCTAssertTrue(detail.contains("'a', ends at data offset 4") && detail.contains("holds 5 bytes"), detail)
        // No tensor at all, yet data follows the header.
        guard case .malformedHeader(_, let none)? = error(raw("{}", data: 3)) else { return XCTFail("no tensors") }
        XCTAssertTrue(none.contains("lists no tensor"), none)
    }

    func testEmptyTensorsMustSitOnTheTiling() throws {
        // An empty tensor where the data ends, or in an empty file, is accepted (as the reference does) ...
        let atEnd = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}"#
        XCTAssertEqual(try open(raw(atEnd, data: 8)).tensors["e"]?.byteCount, 0)
        let only = #"{"e":{"dtype":"BF16","shape":[3,0],"data_offsets":[0,0]}}"#
        XCTAssertEqual(try open(raw(only, data: 0)).tensors.count, 1)
        // ... but one pointing inside another tensor's bytes is not.
        let inside = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#
        guard case .invalidTensor(_, "e", let detail)? = error(raw(inside, data: 8)) else { return XCTFail("inside") }
        XCTAssertTrue(detail.contains("overlaps tensor 'a'"), detail)
    }

    func testTensorsOutOfHeaderOrderStillTile() throws {
        // The header's order does not matter, only the offsets.
        let header = #"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#
        XCTAssertEqual(try open(raw(header, data: 8)).tensorNames, ["a", "b"])
    }

    func testByteLengthIsShapeTimesElementSize() {
        XCTAssertEqual(SafetensorsFile.byteLength(dtype: .bf16, shape: [3, 5]), 30)
        XCTAssertEqual(SafetensorsFile.byteLength(dtype: .f32, shape: []), 4)
        XCTAssertEqual(SafetensorsFile.byteLength(dtype: .f16, shape: [7, 0]), 0)
        XCTAssertNil(SafetensorsFile.byteLength(dtype: .f32, shape: [1 << 62, 2]))
        XCTAssertNil(SafetensorsFile.byteLength(dtype: .f32, shape: [-1]))
    }

    func testHugeTensorNameIsShortenedInMessages() {
        let name = String(repeating: "x", count: 1_000_000) + "\nEND"
        let header = "{\"\(name)\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}"
            .replacingOccurrences(of: "\n", with: "\\n")
        guard let e = error(raw(header, data: 4)), case .unsupportedDType = e else { return XCTFail("dtype") }
        XCTAssertLessThan(e.description.utf8.count, 600, "one error, one short line")
        XCTAssertFalse(e.description.contains("\n"))
        XCTAssertTrue(e.description.contains("\\u{A}END (1000004 bytes)"), String(e.description.suffix(80)))
    }
}
