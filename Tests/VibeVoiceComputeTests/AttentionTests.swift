import XCTest
import Foundation
import CKernels
@testable import VibeVoiceCompute

/// The tiled online-softmax attention against a direct double-precision softmax over all keys: shapes with several
/// key tiles (128 keys each) and partial ones, head sizes that are not multiples of the 16-wide panel, grouped-query
/// heads, a single decode row, and an f16 cache; AVX2 and scalar paths bit-identical.
final class AttentionTests: XCTestCase {
    override func tearDown() {
        vv_set_fused_kernels_scalar(0)
        super.tearDown()
    }

    private var state: UInt64 = 0x2545_F491_4F6C_DD1D

    private func random(_ n: Int) -> [Float] {
        (0..<n).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Double(state >> 11) / Double(UInt64(1) << 53) * 2 - 1)
        }
    }

    /// Runs `Attention.causal` over per-head caches `[positions][hd]` (f32 values, stored as `element`).
    private func attend(q: [Float], rows: Int, start: Int, heads: Int, kvHeads: Int, hd: Int, keys: [[Float]],
                        values: [[Float]], element: Attention.Element, threads: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * heads * hd)
        let store: [UnsafeMutableRawPointer] = (keys + values).map { data in
            switch element {
            case .f32:
                let p = UnsafeMutableRawPointer.allocate(byteCount: data.count * 4, alignment: 64)
                data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                return p
            case .f16:
                let p = UnsafeMutableRawPointer.allocate(byteCount: data.count * 2, alignment: 64)
                vv_narrow_f16(data, p.assumingMemoryBound(to: UInt16.self), data.count)
                return p
            }
        }
        defer { store.forEach { $0.deallocate() } }
        q.withUnsafeBufferPointer { qp in
            out.withUnsafeMutableBufferPointer { op in
                Attention.causal(q: qp.baseAddress!, rows: rows, start: start, heads: heads, kvHeads: kvHeads, headDim: hd,
                                 element: element, keys: { UnsafeRawPointer(store[$0]) },
                                 values: { UnsafeRawPointer(store[kvHeads + $0]) }, scale: 1 / Float(hd).squareRoot(),
                                 into: op.baseAddress!, threads: threads)
            }
        }
        return out
    }

    private func reference(q: [Float], rows: Int, start: Int, heads: Int, kvHeads: Int, hd: Int, keys: [[Float]],
                           values: [[Float]]) -> [Double] {
        var out = [Double](repeating: 0, count: rows * heads * hd)
        let scale = 1 / Double(hd).squareRoot()
        for i in 0..<rows {
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let n = start + i + 1
                var s = (0..<n).map { j in
                    (0..<hd).reduce(0.0) { $0 + Double(q[i * heads * hd + h * hd + $1]) * Double(keys[g][j * hd + $1]) } * scale
                }
                let m = s.max()!
                s = s.map { Foundation.exp($0 - m) }
                let z = s.reduce(0, +)
                for d in 0..<hd {
                    out[i * heads * hd + h * hd + d] = (0..<n).reduce(0.0) { $0 + s[$1] * Double(values[g][$1 * hd + d]) } / z
                }
            }
        }
        return out
    }

    func testTiledAttentionMatchesADirectSoftmax() {
        // (rows, start, heads, kvHeads, hd): prefill from 0 over two tiles; a block after a long prefix (the first
        // tile wholly before, the last partial); one decode row at 300; a head size of 20; no grouping.
        for (rows, start, heads, kvHeads, hd) in [(150, 0, 8, 2, 16), (37, 200, 7, 1, 32), (1, 300, 4, 2, 128),
                                                  (20, 5, 3, 3, 20), (13, 129, 14, 2, 16)] {
            let total = start + rows
            let keys = (0..<kvHeads).map { _ in random(total * hd) }
            let values = (0..<kvHeads).map { _ in random(total * hd) }
            let q = random(rows * heads * hd).map { $0 * 3 }
            let expected = reference(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, hd: hd, keys: keys, values: values)
            vv_set_fused_kernels_scalar(1)
            let scalar = attend(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, hd: hd, keys: keys, values: values,
                                element: .f32, threads: 1)
            vv_set_fused_kernels_scalar(0)
            let simd = attend(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, hd: hd, keys: keys, values: values,
                              element: .f32, threads: 2)
            XCTAssertEqual(scalar.map(\.bitPattern), simd.map(\.bitPattern), "(\(rows),\(start),\(heads),\(kvHeads),\(hd)) paths")
            var worst = 0.0
            for (a, b) in zip(simd, expected) { worst = max(worst, abs(Double(a) - b)) }
            // Values in [-1, 1]: outputs are convex combinations of them; f32 sums over ≤ 300 keys and the exp
            // polynomial (1-2 ulp): measured up to 2.2e-7.
            XCTAssertLessThan(worst, 5e-6, "(\(rows),\(start),\(heads),\(kvHeads),\(hd))")
        }
    }

    func testF16CacheStaysWithinItsRounding() {
        let (rows, start, heads, kvHeads, hd) = (40, 100, 7, 1, 128)
        let total = start + rows
        let keys = [random(total * hd)], values = [random(total * hd)]
        let q = random(rows * heads * hd).map { $0 * 3 }
        let exact = attend(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, hd: hd, keys: keys, values: values,
                           element: .f32, threads: 2)
        let half = attend(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, hd: hd, keys: keys, values: values,
                          element: .f16, threads: 2)
        var worst = 0.0
        for (a, b) in zip(half, exact) { worst = max(worst, abs(Double(a) - Double(b))) }
        // f16 keeps 11 significant bits: a relative rounding of at most 2^-12 (2.4e-4) on values in [-1, 1], which
        // moves scores and outputs by about that much: measured 1.0e-4; 1e-3 is four times the rounding step.
        XCTAssertLessThan(worst, 1e-3)
        XCTAssertGreaterThan(worst, 0, "the f16 cache does round")
    }

    func testScratchDoesNotGrowWithTheContext() {
        XCTAssertEqual(vv_attention_scratch_floats(84, 128), 128 * 128 * 2 + 84 * 128 + 84 * 128 + 2 * 84)
    }
}
