import Foundation
import XCTest

/// A minimal safetensors writer for tests: well-formed files (data aligned, header padded with spaces to a
/// multiple of 8, as the reference writer does) and raw files with any header text for corruption tests.
struct TestTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]

    static func f32(_ name: String, _ shape: [Int], _ values: [Float]) -> TestTensor {
        TestTensor(name: name, dtype: "F32", shape: shape, bytes: SafetensorsTestWriter.bytes(values))
    }

    static func f16(_ name: String, _ shape: [Int], _ values: [Float]) -> TestTensor {
        TestTensor(name: name, dtype: "F16", shape: shape,
                   bytes: SafetensorsTestWriter.bytes(values.map { Float16($0).bitPattern }))
    }

    /// bf16 given as raw bit patterns, so the test controls every bit.
    static func bf16(_ name: String, _ shape: [Int], bits: [UInt16]) -> TestTensor {
        TestTensor(name: name, dtype: "BF16", shape: shape, bytes: SafetensorsTestWriter.bytes(bits))
    }

    /// bf16 from floats (truncation of the low 16 bits; exact for the values tests use).
    static func bf16(_ name: String, _ shape: [Int], _ values: [Float]) -> TestTensor {
        bf16(name, shape, bits: values.map { UInt16($0.bitPattern >> 16) })
    }
}

enum SafetensorsTestWriter {
    static func bytes<T>(_ values: [T]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// The header JSON of `tensors` laid out one after another, plus the data section.
    static func layout(_ tensors: [TestTensor], metadata: [String: String]? = nil) -> (header: String, data: [UInt8]) {
        var entries: [String] = []
        if let metadata {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var data: [UInt8] = []
        for t in tensors {
            let begin = data.count
            data += t.bytes
            entries.append("\(jsonString(t.name)):{\"dtype\":\(jsonString(t.dtype)),\"shape\":\(t.shape),"
                               + "\"data_offsets\":[\(begin),\(data.count)]}")
        }
        return ("{" + entries.joined(separator: ",") + "}", data)
    }

    /// A complete file: header length, header (space-padded to a multiple of 8), data.
    static func file(header: String, data: [UInt8], pad: Bool = true, declaredLength: UInt64? = nil) -> Data {
        var h = Array(header.utf8)
        if pad { while h.count % 8 != 0 { h.append(0x20) } }
        var out = Data()
        var n = (declaredLength ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }

    static func file(_ tensors: [TestTensor], metadata: [String: String]? = nil) -> Data {
        let (header, data) = layout(tensors, metadata: metadata)
        return file(header: header, data: data)
    }

    @discardableResult
    static func write(_ data: Data, to url: URL) throws -> URL {
        try data.write(to: url)
        return url
    }
}

/// A fresh temporary directory per test, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("vibevoice-model-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let tempDir { try? FileManager.default.removeItem(at: tempDir) }
    }
}
