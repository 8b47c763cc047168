import XCTest
import CKernels
@testable import VibeVoiceCompute

/// The multi-row kernels (m = 2...8 activation rows, each weight row streamed once) give every row exactly the
/// bits the one-row mat-vec gives it, for every weight format, on shapes with partial SIMD chunks and blocks.
final class MultiRowKernelTests: XCTestCase {
    override func tearDown() {
        vv_set_force_scalar(0)
        super.tearDown()
    }

    private func values(_ n: Int, scale: Float) -> [Float] {
        var rng = SystemRandomNumberGenerator()
        return (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    /// A weight of `dtype` holding random values (rounded to the dtype).
    private func weight(_ rows: Int, _ cols: Int, _ dtype: DType) throws -> WeightTensor {
        let v = values(rows * cols, scale: 0.05)
        let f32 = OwnedWeightBuffer.tensor(v, shape: [rows, cols])
        switch dtype {
        case .f32: return f32
        case .q8_0, .q4_0: return try WeightQuantizer.quantize(f32, to: dtype)
        case .bf16, .f16:
            let bits: [UInt16] = dtype == .bf16 ? v.map { UInt16($0.bitPattern >> 16) } : v.map { Float16($0).bitPattern }
            let buf = OwnedWeightBuffer(byteCount: bits.count * 2)
            bits.withUnsafeBytes { buf.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return WeightTensor(dtype: dtype, shape: [rows, cols], data: UnsafeRawPointer(buf.pointer), owner: buf)
        default: preconditionFailure()
        }
    }

    func testEveryRowOfABlockEqualsItsOneRowMatvecBitForBit() throws {
        let formats: [DType] = [.f32, .bf16, .f16, .q8_0, .q4_0]
        // Every path of the block-format kernels this CPU has (scalar, AVX2, AVX-VNNI, AVX-512 VNNI); the float formats once.
        let best = vv_quant_set_max_level(Int32(VV_QUANT_AVX512VNNI))
        for level in Int32(VV_QUANT_SCALAR)...best {
            vv_quant_set_max_level(level)
            for dtype in formats where dtype.isBlockFormat || level == best {
                // Block counts 2, 5, 7, 3 and, past the kernels' groups of 8 scales, 10 and 17.
                for (rows, cols) in [(37, 53), (64, 129), (6, 200), (130, 96), (13, 300), (9, 520)] {
                    let lin = Linear(weight: try weight(rows, cols, dtype), bias: values(rows, scale: 1))
                    // The x8 kernels walk one stream or two (an odd group count leaves one group alone: 37, 130
                    // rows); each setting's rows are checked against the other setting's one-row mat-vec.
                    for m in 2...Linear.maxMatvecRows {
                      for streams in [1, 2] {
                        let x = values(m * cols, scale: 2)
                        MatvecStreams.perThread = streams
                        let block = lin.forward(x, rows: m)
                        MatvecStreams.perThread = 3 - streams
                        for j in 0..<m {
                            let one = lin.forward(Array(x[(j * cols)..<((j + 1) * cols)]), rows: 1)
                            XCTAssertEqual(Array(block[(j * rows)..<((j + 1) * rows)]).map(\.bitPattern), one.map(\.bitPattern),
                                           "\(dtype) \(rows)x\(cols) m=\(m) row \(j) level \(level) streams \(streams)")
                        }
                        MatvecStreams.perThread = MatvecStreams.defaultPerThread
                      }
                    }
                }
            }
        }
    }

    func testMoreRowsThanTheKernelsTakeGoThroughSgemm() throws {
        // Nine rows: the GEMM path, still within float rounding of the one-row results.
        let lin = Linear(weight: try weight(40, 64, .bf16), bias: nil)
        let x = values(9 * 64, scale: 1)
        let block = lin.forward(x, rows: 9)
        for j in 0..<9 {
            let one = lin.forward(Array(x[(j * 64)..<((j + 1) * 64)]), rows: 1)
            for o in 0..<40 { XCTAssertEqual(block[j * 40 + o], one[o], accuracy: 1e-5) }
        }
    }
}
