import XCTest
import Foundation
import CKernels
@testable import VibeVoiceCompute

/// The opt-in integer GEMM over Q8_0 weights: activations to int16 (one scale per row, within half a step), the
/// product equal to a double-precision evaluation of the same block arithmetic, AVX2 and scalar paths
/// bit-identical, and a Linear layer with it within the activation rounding of the dequantised-sgemm path.
final class Int8GEMMTests: XCTestCase {
    override func tearDown() {
        vv_set_fused_kernels_scalar(0)
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

    func testInt8GEMMEqualsTheBlockArithmeticOnEveryPath() throws {
        // Rows not multiples of the 4-row tile, an odd output count (2-row tile edge), rows not whole blocks.
        for (m, n, k) in [(1, 1, 32), (5, 7, 40), (9, 33, 96), (17, 64, 3584 / 8)] {
            let w = try WeightQuantizer.quantize(OwnedWeightBuffer.tensor(random(n * k, scale: 0.05), shape: [n, k]), to: .q8_0)
            let x = random(m * k, scale: 2)
            let nb = w.blocksPerRow
            var qx = [Int16](repeating: 0, count: m * nb * 32), dx = [Float](repeating: 0, count: m)
            vv_quantize_rows_act_i16(x, m, k, &qx, &dx)
            for i in 0..<m {
                let amax = (0..<k).map { abs(x[i * k + $0]) }.max()!
                XCTAssertEqual(dx[i], amax / 32767)
                for j in 0..<k { XCTAssertEqual(Double(qx[i * nb * 32 + j]) * Double(dx[i]), Double(x[i * k + j]), accuracy: Double(dx[i]) * 0.505) }   // half a step, and x·(1/dx) rounded in f32
                for j in k..<(nb * 32) { XCTAssertEqual(qx[i * nb * 32 + j], 0) }
            }
            let qw = w.data.assumingMemoryBound(to: Int8.self), dw = w.scales!.assumingMemoryBound(to: UInt16.self)
            // The same weight in the interleaved decode layout, which the GEMM copies rows out of.
            let x8 = w.interleavedForDecode()
            XCTAssertTrue(x8.interleaved8)
            func run(accumulate: Bool, interleaved: Bool = false) -> [Float] {
                var y = [Float](repeating: 0.5, count: m * n)
                var scratch = [Float](repeating: 0, count: vv_gemm_q8_0_scratch_floats(nb))
                let src = interleaved ? x8 : w
                vv_gemm_q8_0(qx, dx, m, src.data.assumingMemoryBound(to: Int8.self),
                             src.scales!.assumingMemoryBound(to: UInt16.self), nb, 0, n, &y, n, accumulate ? 1 : 0,
                             interleaved ? 1 : 0, &scratch)
                return y
            }
            vv_set_fused_kernels_scalar(1)
            let scalar = run(accumulate: false)
            vv_set_fused_kernels_scalar(0)
            let simd = run(accumulate: false)
            XCTAssertEqual(scalar.map(\.bitPattern), simd.map(\.bitPattern), "(\(m),\(n),\(k))")
            XCTAssertEqual(run(accumulate: false, interleaved: true).map(\.bitPattern), simd.map(\.bitPattern),
                           "(\(m),\(n),\(k)) interleaved")
            let acc = run(accumulate: true)
            for i in 0..<(m * n) { XCTAssertEqual(acc[i], 0.5 + simd[i], accuracy: 1e-6 * max(1, abs(acc[i]))) }
            for i in 0..<m {
                for o in 0..<n {
                    var ref = 0.0, mag = 0.0
                    for b in 0..<nb {
                        var dot = 0
                        for j in 0..<32 { dot += Int(qx[i * nb * 32 + b * 32 + j]) * Int(qw[o * nb * 32 + b * 32 + j]) }
                        let s = Double(Float(Float16(bitPattern: dw[o * nb + b]))) * Double(dx[i])
                        ref += s * Double(dot)
                        mag += abs(s * Double(dot))
                    }
                    // Each block's integer dot is exact; the f32 scaling and the sums over ≤ 14 blocks round
                    // at 2^-24 per step.
                    XCTAssertEqual(Double(simd[i * n + o]), ref, accuracy: 1e-6 * (mag + 1e-30), "(\(m),\(n),\(k)) [\(i),\(o)]")
                }
            }
        }
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
        // Activations rounded to 16 bits (half a step is 1.5e-5 of the row's largest value); over 256 random terms
        // the sum moves by about 1e-5 of its scale: measured 1.3e-5.
        XCTAssertLessThan(worst / scale, 1e-4)
        XCTAssertGreaterThan(worst, 0, "the activations are rounded")
    }
}
