import XCTest
@testable import VibeVoiceCompute

/// The kernels against a plain double-precision reference, for every stored dtype and both
/// paths (one row: SIMD mat-vec; several rows: widened tiles + sgemm).
final class LinearTests: XCTestCase {
    final class Storage: WeightStorageOwner, @unchecked Sendable {
        var bytes: [UInt8]
        init(_ b: [UInt8]) { bytes = b }
    }

    private func makeWeight(_ values: [Float], rows: Int, cols: Int, dtype: DType) -> (WeightTensor, [Float], Storage) {
        var bytes: [UInt8] = []
        var stored: [Float] = []
        for v in values {
            switch dtype {
            case .f32:
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                stored.append(v)
            case .bf16:
                let b = UInt16(truncatingIfNeeded: v.bitPattern >> 16)   // truncation: any bf16 value will do
                withUnsafeBytes(of: b.littleEndian) { bytes.append(contentsOf: $0) }
                stored.append(Float(bitPattern: UInt32(b) << 16))
            case .f16:
                let h = Float16(v)
                withUnsafeBytes(of: h.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                stored.append(Float(h))
            default:
                preconditionFailure("float dtypes only")
            }
        }
        let storage = Storage(bytes)
        let ptr = storage.bytes.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
        return (WeightTensor(dtype: dtype, shape: [rows, cols], data: ptr, owner: storage), stored, storage)
    }

    func testLinearMatchesReferenceForEveryDTypeAndPath() {
        var rng = SystemRandomNumberGenerator()
        for dtype in DType.allCases where dtype.isFloat {
            for (rows, cols, m) in [(37, 53, 1), (64, 129, 1), (33, 70, 5), (300, 40, 17)] {
                let values = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                let (w, stored, storage) = makeWeight(values, rows: rows, cols: cols, dtype: dtype)
                let bias = (0..<rows).map { _ in Float.random(in: -1...1, using: &rng) }
                let x = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                let y = Linear(weight: w, bias: bias).forward(x, rows: m)
                for r in 0..<m {
                    for o in 0..<rows {
                        var ref = Double(bias[o])
                        for c in 0..<cols { ref += Double(stored[o * cols + c]) * Double(x[r * cols + c]) }
                        // f32 accumulation over ≤ 129 terms of magnitude ≤ 1: error well under 1e-4.
                        XCTAssertEqual(Double(y[r * rows + o]), ref, accuracy: 1e-4, "\(dtype) \(rows)x\(cols) m=\(m)")
                    }
                }
                withExtendedLifetime(storage) {}
            }
        }
    }

    /// Small tiles force both split paths of the many-row product: output rows in several tiles (q, gate, up) and,
    /// for a layer with more inputs than outputs, input columns in several chunks accumulated in the output (down).
    func testTiledProductsSplitRowsAndColumnsLikeOneProduct() {
        let saved = Linear.gemmTileElements
        defer { Linear.gemmTileElements = saved }
        var rng = SystemRandomNumberGenerator()
        for dtype in [DType.bf16, .f16] {
            for (rows, cols, m) in [(40, 300, 7), (300, 40, 5), (33, 1000, 9)] {
                let values = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                let (w, stored, storage) = makeWeight(values, rows: rows, cols: cols, dtype: dtype)
                let bias = (0..<rows).map { _ in Float.random(in: -1...1, using: &rng) }
                let x = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
                Linear.gemmTileElements = 2048   // several tiles, or several column chunks of at least 64
                let y = Linear(weight: w, bias: bias).forward(x, rows: m)
                for r in 0..<m {
                    for o in 0..<rows {
                        var ref = Double(bias[o])
                        for c in 0..<cols { ref += Double(stored[o * cols + c]) * Double(x[r * cols + c]) }
                        // f32 sums of ≤ 1000 products of magnitude ≤ 1: well under 1e-3.
                        XCTAssertEqual(Double(y[r * rows + o]), ref, accuracy: 1e-3, "\(dtype) \(rows)x\(cols) m=\(m)")
                    }
                }
                withExtendedLifetime(storage) {}
            }
        }
    }

    func testRMSNormAndSoftmax() {
        var x: [Float] = [1, 2, 3, 4, -1, 0, 0, 1]
        Ops.rmsNorm(&x, rows: 2, dim: 4, weight: [1, 1, 2, 1], eps: 0)
        let s1 = Float((30.0 / 4).squareRoot())
        XCTAssertEqual(x[2], 2 * 3 / s1, accuracy: 1e-6)
        XCTAssertEqual(x[4], -1 / Float(0.5.squareRoot()), accuracy: 1e-6)
        var p: [Float] = [1000, 1000, -Float.infinity]
        p.withUnsafeMutableBufferPointer { Ops.softmaxInPlace($0.baseAddress!, count: 3) }
        XCTAssertEqual(p, [0.5, 0.5, 0])
    }

    func testRotaryMatchesRotateHalfFormula() {
        let rope = RotaryEmbedding(headDim: 8, theta: 10000)
        var v: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4), s = [Float](repeating: 0, count: 4)
        rope.angles(position: 7, cos: &c, sin: &s)
        let orig = v
        v.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, cos: c, sin: s) }
        for i in 0..<4 {
            let a = 7.0 * pow(10000.0, -Double(2 * i) / 8)
            XCTAssertEqual(Double(v[i]), Double(orig[i]) * cos(a) - Double(orig[i + 4]) * sin(a), accuracy: 1e-5)
            XCTAssertEqual(Double(v[i + 4]), Double(orig[i + 4]) * cos(a) + Double(orig[i]) * sin(a), accuracy: 1e-5)
        }
    }
}
