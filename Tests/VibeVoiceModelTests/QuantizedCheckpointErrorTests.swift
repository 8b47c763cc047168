import XCTest
import VibeVoiceCompute
@testable import VibeVoiceModel

/// A quantised checkpoint that is truncated, has scales that do not fit its blocks, or names an unknown format
/// gets a typed error naming the file, the tensor and the field.
final class QuantizedCheckpointErrorTests: XCTestCase {
    let tensorName = "language_model.model.layers.0.mlp.up_proj.weight"

    private func dir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("vv-qerr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    /// A checkpoint directory holding `tensors`, opened with the fixture config plus a quantisation entry that
    /// lists `name` as q8_0 of shape [4, 40] (2 blocks per row).
    private func open(_ tensors: [TestTensor], format: DType = .q8_0) throws -> Checkpoint {
        let d = try dir()
        try SafetensorsTestWriter.write(SafetensorsTestWriter.file(tensors), to: d.appendingPathComponent("model.safetensors"))
        var config = try VibeVoiceConfig.load(from: ConfigFixtures.url("hf_tiny_config.json"))
        config.quantization = QuantizationConfig(format: format, tensors: [tensorName: .init(format: format, shape: [4, 40])])
        return try Checkpoint(directory: d, config: config)
    }

    private func i8(_ n: String, _ shape: [Int]) -> TestTensor {
        TestTensor(name: n, dtype: "I8", shape: shape, bytes: [UInt8](repeating: 1, count: shape.reduce(1, *)))
    }

    private func expectMismatch(_ tensors: [TestTensor], field: String, _ fragment: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try open(tensors), file: file, line: line) { error in
            guard case let .quantizedTensorMismatch(path, tensor, f, detail)? = error as? CheckpointError else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertTrue(path.hasSuffix("model.safetensors"), path, file: file, line: line)
            XCTAssertEqual(tensor, tensorName, file: file, line: line)
            XCTAssertEqual(f, field, file: file, line: line)
            XCTAssertTrue(detail.contains(fragment), detail, file: file, line: line)
            XCTAssertTrue((error as! CheckpointError).description.contains(tensorName), file: file, line: line)
        }
    }

    func testPayloadAndScalesMustFitTheFormatAndShape() throws {
        let scale = TestTensor.f16(tensorName + "_scale", [4, 2], [Float](repeating: 0.5, count: 8))
        XCTAssertNoThrow(try open([i8(tensorName, [4, 64]), scale]), "the well-formed case loads")
        let t = try open([i8(tensorName, [4, 64]), scale]).tensor(tensorName, shape: [4, 40])
        XCTAssertEqual(t.dtype, .q8_0)
        XCTAssertEqual(t.element(0), 0.5)

        expectMismatch([i8(tensorName, [4, 64])], field: tensorName + "_scale", "is missing")
        expectMismatch([i8(tensorName, [4, 64]), TestTensor.f16(tensorName + "_scale", [4, 3], [Float](repeating: 1, count: 12))],
                       field: tensorName + "_scale", "F16 [4, 2]")
        expectMismatch([i8(tensorName, [4, 64]), TestTensor.f32(tensorName + "_scale", [4, 2], [Float](repeating: 1, count: 8))],
                       field: tensorName + "_scale", "F16 [4, 2]")
        expectMismatch([i8(tensorName, [4, 40]), scale], field: tensorName, "I8 [4, 64]")
        expectMismatch([TestTensor(name: tensorName, dtype: "U8", shape: [4, 64], bytes: [UInt8](repeating: 0, count: 256)), scale],
                       field: tensorName, "I8 [4, 64]")
    }

    func testAnIntegerTensorThatIsNotListedIsRefused() throws {
        let other = "language_model.model.layers.0.mlp.gate_proj.weight"
        let c = try open([i8(tensorName, [4, 64]), TestTensor.f16(tensorName + "_scale", [4, 2], [Float](repeating: 1, count: 8)),
                          i8(other, [4, 40])])
        XCTAssertThrowsError(try c.tensor(other)) {
            guard case let .invalidTensor(_, tensor, detail)? = $0 as? CheckpointError else { return XCTFail("\($0)") }
            XCTAssertEqual(tensor, other)
            XCTAssertTrue(detail.contains("quantization_config"), detail)
        }
    }

    func testUnknownFormatsAndMethodsAreConfigErrors() throws {
        var object = try ConfigFixtures.object("hf_tiny_config.json")
        object["quantization_config"] = ["quant_method": "vibevoice_blocks", "format": "q8_0",
                                         "tensors": [tensorName: ["format": "q3_k", "shape": [4, 40]]]]
        var data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try VibeVoiceConfig(jsonData: data)) {
            guard case let .unsupported(_, field, value, _)? = $0 as? ConfigError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "quantization_config.tensors.\(tensorName).format")
            XCTAssertEqual(value, "\"q3_k\"")
        }
        object["quantization_config"] = ["quant_method": "gptq", "bits": 4]
        data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try VibeVoiceConfig(jsonData: data)) {
            guard case let .unsupported(_, field, _, _)? = $0 as? ConfigError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "quantization_config.quant_method")
        }
        object["quantization_config"] = ["quant_method": "vibevoice_blocks", "format": "q8_0", "block_size": 64, "tensors": [:]]
        data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try VibeVoiceConfig(jsonData: data)) {
            guard case let .unsupported(_, field, _, _)? = $0 as? ConfigError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "quantization_config.block_size")
        }
    }

    func testATruncatedQuantisedShardIsReported() throws {
        let out = try dir().appendingPathComponent("q")
        _ = try CheckpointQuantizer.quantize(input: ReferenceFixture("hf_bf16_chunked").modelDirectory, output: out,
                                             options: .init(format: .q4_0))
        let shard = out.appendingPathComponent("model-00001-of-00001.safetensors")
        let data = try Data(contentsOf: shard)
        try data.prefix(data.count - 100).write(to: shard)
        XCTAssertThrowsError(try Checkpoint(directory: out)) {
            guard case let .truncated(file, _)? = $0 as? CheckpointError else { return XCTFail("\($0)") }
            XCTAssertEqual(file, shard.path)
        }
    }
}
