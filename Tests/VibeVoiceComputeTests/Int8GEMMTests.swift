import XCTest
import Foundation
import CKernels
@testable import VibeVoiceCompute

/// The integer prefill over Q8_0 and Q4_0 weights: many rows through the multi-row integer kernels, every
/// output row bit-identical to that row's one-row decode step on every kernel path and in both weight layouts, and a
/// Linear layer with it within the 8-bit activation rounding of the dequantised-sgemm path.
final class Int8GEMMTests: XCTestCase {
    override func tearDown() {
        vv_quant_set_max_level(Int32(VV_QUANT_AVX512VNNI))
        Linear.int8GEMM = false
        super.tearDown()
    }

    private var state: UInt64 = 0x1234_5678_9ABC_DEF1

    private func random(_ n: Int, scale: Float) -> [Float] {
        (0..<n).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Double(state >> 11) / Double(UInt64(1) << 53) * 2 - 1) * scale
        }
    }

    /// `PrefillProducts`: auto takes the integer kernels for block formats on the AVX-512 VNNI path only (the one where
    /// they were measured faster than sgemm), follows a cap below it, and never for float weights.
    func testPrefillChoiceFollowsTheKernelPath() {
        let best = QuantKernelPath.current
        for format in [DType.q8_0, .q4_0] {
            XCTAssertEqual(PrefillProducts.auto.resolved(for: format), best == .avx512vnni)
            XCTAssertEqual(PrefillProducts.integer.resolved(for: format), true)
            XCTAssertEqual(PrefillProducts.float.resolved(for: format), false)
        }
        for format in [DType.bf16, .f16, .f32] {
            XCTAssertEqual(PrefillProducts.auto.resolved(for: format), false)
            XCTAssertNil(PrefillProducts.integer.resolved(for: format))
            XCTAssertEqual(PrefillProducts.float.resolved(for: format), false)
        }
        for path in [QuantKernelPath.scalar, .avx2, .avxvnni] {
            QuantKernelPath.cap(path)
            XCTAssertEqual(PrefillProducts.auto.resolved(for: .q8_0), false, path.rawValue)
            XCTAssertEqual(PrefillProducts.integer.resolved(for: .q8_0), true, path.rawValue)
        }
    }

    func testIntegerPrefillRowsEqualOneRowStepsOnEveryPath() throws {
        // Row counts past the 8-row decode limit and not multiples of the 8- and 4-row register tiles, or of the
        // 64-row blocks of the stored layout (70); output counts not multiples of the 8-row groups (33, 4100);
        // rows not whole blocks (40); 4100 rows of 3 blocks are 513 groups, one more than a 384 KB cache tile
        // holds, so the tiled loop takes a tile and a one-group tail.
        // Q4_0's payload is half as large, so its tile holds twice the groups: 8200 rows are one more than two tiles.
        for (format, m, n, k, bias) in [(DType.q8_0, 9, 33, 40, true), (.q8_0, 17, 64, 96, false), (.q8_0, 70, 24, 256, true),
                                        (.q8_0, 20, 4100, 96, true), (.q4_0, 11, 33, 40, true), (.q4_0, 70, 24, 256, false),
                                        (.q4_0, 13, 8200, 96, true)] {
            let stored = try WeightQuantizer.quantize(OwnedWeightBuffer.tensor(random(n * k, scale: 0.05), shape: [n, k]),
                                                      to: format)
            let b = bias ? random(n, scale: 1) : nil
            let x = random(m * k, scale: 2)
            for decodeLayout in [true, false] {
                let linear = Linear(weight: stored, bias: b, decodeLayout: decodeLayout)
                XCTAssertEqual(linear.weight.interleaved8, decodeLayout)
                let best = vv_quant_set_max_level(Int32(VV_QUANT_AVX512VNNI))
                for level in Int32(VV_QUANT_SCALAR)...best {
                    vv_quant_set_max_level(level)
                    var steps = [Float]()
                    for i in 0..<m { steps += linear.forward(Array(x[(i * k)..<((i + 1) * k)]), rows: 1) }
                    Linear.int8GEMM = true
                    let prefill = linear.forward(x, rows: m)
                    Linear.int8GEMM = false
                    XCTAssertEqual(prefill.map(\.bitPattern), steps.map(\.bitPattern),
                                   "\(format) (\(m),\(n),\(k)) level \(level) decode layout \(decodeLayout)")
                }
            }
        }
    }

    func testIntegerPrefillIsOnlyForBlockFormats() throws {
        // A float weight keeps sgemm for many rows whatever the flag says.
        let (m, n, k) = (12, 16, 64)
        let values = random(n * k, scale: 0.05), x = random(m * k, scale: 1)
        let linear = Linear(weight: OwnedWeightBuffer.tensor(values, shape: [n, k]), bias: nil)
        let plain = linear.forward(x, rows: m)
        Linear.int8GEMM = true
        let flagged = linear.forward(x, rows: m)
        Linear.int8GEMM = false
        XCTAssertEqual(flagged.map(\.bitPattern), plain.map(\.bitPattern))
    }

    func testLinearWithInt8GEMMStaysWithinTheActivationRounding() throws {
        let (m, n, k) = (37, 48, 256)
        let values = random(n * k, scale: 0.05)
        let w = try WeightQuantizer.quantize(OwnedWeightBuffer.tensor(values, shape: [n, k]), to: .q8_0)
        let bias = random(n, scale: 1)
        let linear = Linear(weight: w, bias: bias)
        let x = random(m * k, scale: 2)
        let exact = linear.forward(x, rows: m)
        Linear.int8GEMM = true
        let int8 = linear.forward(x, rows: m)
        Linear.int8GEMM = false
        var worst = 0.0, scale = 0.0
        for (a, b) in zip(int8, exact) {
            worst = max(worst, abs(Double(a) - Double(b)))
            scale = max(scale, abs(Double(b)))
        }
        // Activations rounded to 8 bits per block of 32 (half a step is 1/254 of the block's largest value);
        // over 256 random terms the sum moves by a few 1e-3 of its scale: measured 3.0e-3 (the
        // 16-bit per-row rounding of the earlier integer path gave 1.3e-5).
        XCTAssertLessThan(worst / scale, 1e-2)
        XCTAssertGreaterThan(worst, 0, "the activations are rounded")
    }
}
