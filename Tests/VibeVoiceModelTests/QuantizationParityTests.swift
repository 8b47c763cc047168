import XCTest
import VibeVoiceCompute
import VibeVoiceModel

/// Our quantiser against llama.cpp's own Q8_0/Q4_0 implementation (`gguf.quants`, recorded by
/// scripts/make_quant_fixtures.py in Tests/Fixtures/quant/blocks.safetensors): the same values give the
/// same payload and scale bits, including zero blocks, negative maxima, ties, f16-subnormal scales and
/// rows whose length is not a multiple of the block.
final class QuantizationParityTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/quant/blocks.safetensors")

    private func bytes(_ t: WeightTensor, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: t.data, count: count))
    }

    func testQuantiserReproducesLlamaCppBitForBit() throws {
        let file = try SafetensorsFile(url: Self.fixture)
        let cases = file.tensorNames.filter { $0.hasSuffix(".x") }.map { String($0.dropLast(2)) }
        XCTAssertEqual(cases.count, 4)
        for name in cases {
            let x = try file.tensor(name + ".x")
            for format in DType.blockFormats {
                let tag = format.userName
                let payload = try file.tensor("\(name).\(tag)")
                let scales = try file.tensor("\(name).\(tag)_scale")
                let ours = try WeightQuantizer.quantize(x, to: format)
                XCTAssertEqual(ours.payloadByteCount, payload.payloadByteCount, "\(name) \(tag)")
                XCTAssertEqual(bytes(ours, count: ours.payloadByteCount), bytes(payload, count: payload.payloadByteCount),
                               "\(name) \(tag) payload")
                let ourScales = Array(UnsafeRawBufferPointer(start: ours.scales!, count: ours.scaleByteCount))
                XCTAssertEqual(ourScales, bytes(scales, count: scales.payloadByteCount), "\(name) \(tag) scales")

                // From a bf16 copy of bf16-representable values: the same bits.
                if name.hasPrefix("bf16") {
                    let values = x.toFloatArray()
                    let bits = values.map { UInt16($0.bitPattern >> 16) }
                    let storage = OwnedWeightBuffer(byteCount: bits.count * 2)
                    bits.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    let bf16 = WeightTensor(dtype: .bf16, shape: x.shape, data: UnsafeRawPointer(storage.pointer), owner: storage)
                    let fromBF16 = try WeightQuantizer.quantize(bf16, to: format)
                    XCTAssertEqual(bytes(fromBF16, count: fromBF16.payloadByteCount), bytes(payload, count: payload.payloadByteCount))
                }
            }
        }
    }
}
