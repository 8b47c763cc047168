import Foundation
import VibeVoiceCompute
import XCTest
@testable import VibeVoiceModel

final class SafetensorsTests: TemporaryDirectoryTestCase {
    private func write(_ name: String, _ data: Data) throws -> URL {
        try SafetensorsTestWriter.write(data, to: tempDir.appendingPathComponent(name))
    }

    /// Opens `data` as a file and returns the error it must raise.
    private func openError(_ data: Data, name: String = "bad.safetensors",
                           file: StaticString = #filePath, line: UInt = #line) throws -> CheckpointError {
        let url = try write(name, data)
        do {
            _ = try SafetensorsFile(url: url)
        } catch {
            XCTAssertTrue(error.description.contains(url.path), "message must name the file: \(error)",
                          file: file, line: line)
            return error
        }
        XCTFail("expected an error", file: file, line: line)
        throw XCTSkip("unreachable")
    }

    // MARK: - Reading

    func testReadsAllDTypesExactlyAndKeepsThemStored() throws {
        let f32Values: [Float] = [1.5, -2.25, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 3.1415927]
        let f16Values: [Float] = [1, -0.5, 65504, 0.000061035156, -0.0, 0.33325195]
        let bf16Bits: [UInt16] = [0x3F80, 0xC040, 0x7F7F, 0x0001, 0x8000, 0x4049]  // 1, -3, max, subnormal, -0, 3.140625
        let data = SafetensorsTestWriter.file([
            .f32("a.f32", [2, 3], f32Values),
            .f16("b.f16", [6], f16Values),
            .bf16("c.bf16", [3, 1, 2], bits: bf16Bits),
        ], metadata: ["format": "pt", "note": "ignored"])
        let file = try SafetensorsFile(url: try write("m.safetensors", data))
        XCTAssertEqual(file.tensorNames, ["a.f32", "b.f16", "c.bf16"])
        XCTAssertEqual(file.fileSize, data.count)

        let a = try file.tensor("a.f32")
        XCTAssertEqual(a.dtype, .f32)
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.toFloatArray().map(\.bitPattern), f32Values.map(\.bitPattern))

        let b = try file.tensor("b.f16")
        XCTAssertEqual(b.dtype, .f16)
        XCTAssertEqual(b.shape, [6])
        XCTAssertEqual(b.byteCount, 12)
        let bBits = (0..<6).map { b.data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) }
        XCTAssertEqual(bBits, f16Values.map { Float16($0).bitPattern })
        XCTAssertEqual(b.toFloatArray().map(\.bitPattern), f16Values.map { Float(Float16($0)).bitPattern })

        let c = try file.tensor("c.bf16")
        XCTAssertEqual(c.dtype, .bf16)
        XCTAssertEqual(c.shape, [3, 1, 2])
        let cBits = (0..<6).map { c.data.load(fromByteOffset: 2 * $0, as: UInt16.self) }
        XCTAssertEqual(cBits, bf16Bits)
        XCTAssertEqual(c.toFloatArray(), [1, -3, Float(bitPattern: 0x7F7F_0000), Float(bitPattern: 0x0001_0000), -0.0,
                                          3.140625])
        XCTAssertEqual(c.toFloatArray()[4].sign, .minus)
        XCTAssertTrue(c.owner === file)

        // Views point into the one mapping, at the offsets the header gives.
        let info = try XCTUnwrap(file.tensors["b.f16"])
        XCTAssertEqual(info.byteCount, 12)
        XCTAssertEqual(b.data - a.data, 24)
        XCTAssertEqual(c.data - b.data, 12)
        XCTAssertEqual(info.fileOffset % 8, 0)
    }

    func testTensorOutlivesTheFileObject() throws {
        let url = try write("m.safetensors", SafetensorsTestWriter.file([.f32("w", [3], [7, 8, 9])]))
        var tensor: WeightTensor?
        do {
            let file = try SafetensorsFile(url: url)
            tensor = try file.tensor("w")
        }
        XCTAssertEqual(tensor?.toFloatArray(), [7, 8, 9])
    }

    func testEmptyTensorsAndEmptyHeaderAreAccepted() throws {
        let file = try SafetensorsFile(url: try write("e.safetensors", SafetensorsTestWriter.file([
            .f32("empty", [0, 4], []), .f32("scalar", [], [42]),
        ])))
        XCTAssertEqual(try file.tensor("empty").count, 0)
        XCTAssertEqual(try file.tensor("scalar").shape, [])
        XCTAssertEqual(try file.tensor("scalar").toFloatArray(), [42])
        let none = try SafetensorsFile(url: try write("n.safetensors", SafetensorsTestWriter.file(header: "{}", data: [])))
        XCTAssertTrue(none.tensors.isEmpty)
    }

    func testMissingTensorNamesFileAndTensor() throws {
        let url = try write("m.safetensors", SafetensorsTestWriter.file([.f32("w", [1], [1])]))
        let file = try SafetensorsFile(url: url)
        XCTAssertFalse(file.has("x"))
        XCTAssertThrowsError(try file.tensor("x")) { error in
            XCTAssertEqual(error as? CheckpointError, .missingTensor(directory: url.path, name: "x", tried: ["x"]))
        }
    }

    // MARK: - Corruption

    func testMissingFileAndDirectoryAreUnreadable() throws {
        let missing = tempDir.appendingPathComponent("none.safetensors")
        XCTAssertThrowsError(try SafetensorsFile(url: missing)) { error in
            guard case .unreadable(let file, _)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, missing.path)
        }
        XCTAssertThrowsError(try SafetensorsFile(url: tempDir)) { error in
            guard case .unreadable(_, let reason)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "not a regular file")
        }
    }

    func testFileTooShortForHeaderLength() throws {
        for size in [0, 1, 7] {
            let error = try openError(Data(repeating: 0x7B, count: size))
            guard case .truncated(_, let detail) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("\(size) bytes"), detail)
        }
    }

    func testHeaderLengthPastEndOfFile() throws {
        let (header, data) = SafetensorsTestWriter.layout([.f32("w", [2], [1, 2])])
        let good = SafetensorsTestWriter.file(header: header, data: data)
        let error = try openError(SafetensorsTestWriter.file(header: header, data: data,
                                                             declaredLength: UInt64(good.count)))
        guard case .truncated(_, let detail) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(detail.contains("runs past the end of the file"), detail)
    }

    func testHugeHeaderLengthIsRejectedBeforeReading() throws {
        for declared in [UInt64(100_000_001), UInt64(1) << 40, UInt64.max] {
            let error = try openError(SafetensorsTestWriter.file(header: "{}", data: [], declaredLength: declared))
            guard case .malformedHeader(_, let detail) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("exceeds"), detail)
        }
    }

    func testTruncatedDataSection() throws {
        let full = SafetensorsTestWriter.file([.f32("a", [2], [1, 2]), .bf16("big.weight", [4, 4], [Float](repeating: 1, count: 16))])
        let error = try openError(full.prefix(full.count - 3))
        guard case .truncated(_, let detail) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(detail.contains("big.weight"), detail)
    }

    func testOffsetsOutsideTheFile() throws {
        let header = #"{"w":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}"#
        let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 16)))
        guard case .truncated(_, let detail) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(detail.contains("'w'") && detail.contains("400"), detail)

        let negative = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#
        XCTAssertEqual(try openError(SafetensorsTestWriter.file(header: negative, data: [0, 0, 0, 0]), name: "neg.safetensors"),
                       .invalidTensor(file: tempDir.appendingPathComponent("neg.safetensors").path, tensor: "w",
                                      detail: "data_offsets [-4, 0] are not an ordered range"))
        let reversed = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#
        guard case .invalidTensor(_, "w", _) = try openError(SafetensorsTestWriter.file(header: reversed, data: [UInt8](repeating: 0, count: 8))) else {
            return XCTFail("reversed offsets must be rejected")
        }
    }

    func testOverlappingOffsets() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 24)))
        guard case .invalidTensor(_, let tensor, let detail) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(tensor, "b")
        XCTAssertTrue(detail.contains("overlaps tensor 'a'"), detail)

        // The same bytes used twice.
        let same = #"{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#
        guard case .invalidTensor = try openError(SafetensorsTestWriter.file(header: same, data: [0, 0, 0, 0])) else {
            return XCTFail("shared bytes must be rejected")
        }
    }

    func testMalformedHeaderJSON() throws {
        for header in [#"{"w": {"dtype": "F32""#, "not json at all", #"{"a":1,}"#, "{\"a\":\"\u{01}\"}", "{\"a\":1} x",
                       #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                       String(repeating: "[", count: 200) + String(repeating: "]", count: 200)] {
            let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)))
            guard case .malformedHeader(_, let detail) = error else { return XCTFail("\(header): \(error)") }
            XCTAssertTrue(detail.hasPrefix("invalid JSON") || detail.contains("not a JSON object"), detail)
        }
        // Invalid UTF-8 inside a tensor name.
        let badName = Array(#"{"w\#u{01}":1}        "#.utf8).map { $0 == 0x01 ? 0xFF : $0 }
        XCTAssertEqual(badName.count, 16)
        let raw = Data([16, 0, 0, 0, 0, 0, 0, 0] + badName)
        guard case .malformedHeader(_, let utf8Detail) = try openError(raw) else { return XCTFail("invalid UTF-8") }
        XCTAssertTrue(utf8Detail.contains("UTF-8"), utf8Detail)

        let notObject = try openError(SafetensorsTestWriter.file(header: "[1, 2]", data: []))
        guard case .malformedHeader(_, let detail) = notObject else { return XCTFail("\(notObject)") }
        XCTAssertTrue(detail.contains("an array"), detail)
    }

    func testUnsupportedDTypes() throws {
        // I8 and U8 are read (the payloads of quantised weights); the checkpoint refuses them as plain weights.
        for dtype in ["I8", "U8"] {
            let header = #"{"model.w":{"dtype":"\#(dtype)","shape":[8],"data_offsets":[0,8]}}"#
            let url = try SafetensorsTestWriter.write(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)),
                                                      to: tempDir.appendingPathComponent("i.safetensors"))
            XCTAssertEqual(try SafetensorsFile(url: url).tensors["model.w"]?.byteCount, 8)
        }
        for dtype in ["F64", "BOOL", "I64", "F8_E4M3", "f32", "Q8_0", ""] {
            let header = #"{"model.w":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,8]}}"#
            let url = tempDir.appendingPathComponent("d.safetensors")
            let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)),
                                      name: "d.safetensors")
            XCTAssertEqual(error, .unsupportedDType(file: url.path, tensor: "model.w", dtype: dtype))
            XCTAssertTrue(error.description.contains("'model.w' has dtype '\(dtype)'"), error.description)
        }
    }

    func testShapeAndSizeMismatch() throws {
        let header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)))
        guard case .invalidTensor(_, "w", let detail) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(detail.contains("needs 12 bytes") && detail.contains("span 8"), detail)

        // A shape whose element count overflows must not wrap around to a small size.
        let huge = #"{"w":{"dtype":"BF16","shape":[4294967296,4294967296,2],"data_offsets":[0,0]}}"#
        guard case .invalidTensor(_, "w", let hugeDetail) = try openError(SafetensorsTestWriter.file(header: huge, data: [])) else {
            return XCTFail("overflowing shape must be rejected")
        }
        XCTAssertTrue(hugeDetail.contains("too large"), hugeDetail)
    }

    func testBadEntryStructure() throws {
        let cases = [
            #"{"w":[1,2]}"#: "not an object",
            #"{"w":{"shape":[1],"data_offsets":[0,4]}}"#: "'dtype'",
            #"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#: "'shape'",
            #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#: "non-negative",
            #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#: "non-negative",
            #"{"w":{"dtype":"F32","shape":[1]}}"#: "'data_offsets'",
            #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#: "'data_offsets'",
            #"{"w":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}"#: "'data_offsets'",
        ]
        for (header, expected) in cases {
            let error = try openError(SafetensorsTestWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)))
            guard case .invalidTensor(_, "w", let detail) = error else { return XCTFail("\(header): \(error)") }
            XCTAssertTrue(detail.contains(expected), "\(header): \(detail)")
        }
    }

    func testUnpaddedHeaderStillReadsWhenAligned() throws {
        // 2-byte elements need only 2-byte alignment: an unpadded header of even length is fine for bf16.
        var header = #"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#
        if header.utf8.count % 2 == 1 { header += " " }
        let file = try SafetensorsFile(url: try write("u.safetensors", SafetensorsTestWriter.file(
            header: header, data: SafetensorsTestWriter.bytes([UInt16(0x3F80), 0x4000]), pad: false)))
        XCTAssertEqual(try file.tensor("w").toFloatArray(), [1, 2])
    }

    func testMisalignedDataIsCopiedToAlignedMemory() throws {
        // One bf16 element first puts the following f32 tensor at an odd 2-byte offset.
        let data = SafetensorsTestWriter.file([
            .bf16("first", [1], [1]), .f32("shifted", [3], [1.25, -7, 1e-20]), .bf16("odd", [2], [3, 4]),
        ])
        let file = try SafetensorsFile(url: try write("m.safetensors", data))
        let info = try XCTUnwrap(file.tensors["shifted"])
        XCTAssertFalse(info.isAligned)
        let shifted = try file.tensor("shifted")
        XCTAssertEqual(Int(bitPattern: shifted.data) % 4, 0)
        XCTAssertFalse(shifted.owner === file)
        XCTAssertEqual(shifted.toFloatArray(), [1.25, -7, 1e-20])
        XCTAssertTrue(try XCTUnwrap(file.tensors["odd"]).isAligned)
        let odd = try file.tensor("odd")
        XCTAssertTrue(odd.owner === file)
        XCTAssertEqual(odd.toFloatArray(), [3, 4])
    }
}
