import XCTest
import CKernels
@testable import VibeVoiceCompute

/// The block-format kernels: every path bit-identical to the portable scalar path, and all of them equal to
/// a double-precision evaluation of the same integer arithmetic; shapes include row counts that are not
/// multiples of the 4-row kernel and row lengths that are not multiples of the 32-value block or SIMD width.
final class QuantizedKernelTests: XCTestCase {
    /// (rows, cols): partial last blocks (53, 129, 5, 40, 300), one row, row counts of 1, 3, 5, 13, 37 (not multiples
    /// of 4), block counts below, at and past the kernels' groups of 8 scales (2, 5, 8, 10, 14, 32), and more blocks
    /// (769) than the Q4_0 kernel keeps its activation offsets for on the stack, and more (1032) than the AVX-512
    /// Q8_0 kernel keeps its activation sums for.
    static let shapes = [(37, 53), (64, 129), (5, 40), (1, 5), (3, 96), (300, 3584 / 8), (8, 32), (13, 300), (6, 256),
                         (9, 1024), (5, 24_600), (3, 33_001), (1031, 40)]

    /// Every kernel path this CPU has (scalar, AVX2, AVX-VNNI, AVX-512 VNNI), as levels for `vv_quant_set_max_level`.
    static let levels: [Int32] = {
        let best = vv_quant_set_max_level(Int32(VV_QUANT_AVX512VNNI))
        return Array(Int32(VV_QUANT_SCALAR)...best)
    }()

    override func tearDown() {
        vv_set_force_scalar(0)
        MatvecStreams.perThread = MatvecStreams.defaultPerThread
        super.tearDown()
    }

    private func randomMatrix(_ rows: Int, _ cols: Int, scale: Float = 0.02) -> [Float] {
        var rng = SystemRandomNumberGenerator()
        return (0..<(rows * cols)).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    private func quantized(_ values: [Float], rows: Int, cols: Int, _ format: DType) throws -> WeightTensor {
        try WeightQuantizer.quantize(OwnedWeightBuffer.tensor(values, shape: [rows, cols]), to: format)
    }

    /// Integer value j (0..<32) of block `block` (row-major) of a tensor in the stored layout, read from its bytes.
    private func storedValue(_ w: WeightTensor, block: Int, _ j: Int) -> Int {
        if w.dtype == .q8_0 { return Int(w.data.load(fromByteOffset: block * 32 + j, as: Int8.self)) }
        let byte = w.data.load(fromByteOffset: block * 16 + j % 16, as: UInt8.self)
        return Int(j < 16 ? byte & 0x0f : byte >> 4) - 8
    }

    /// The activation quantisation in both paths, one row.
    private func quantizeActivation(_ x: [Float]) -> (q: [Int8], d: [Float]) {
        let nb = (x.count + 31) / 32
        var q = [Int8](repeating: 0, count: nb * 32)
        var d = [Float](repeating: 0, count: nb)
        vv_quantize_act_q8(x, x.count, &q, &d)
        return (q, d)
    }

    func testMatvecStreamsSettingTakesOneOrTwo() throws {
        XCTAssertEqual(MatvecStreams.perThread, MatvecStreams.defaultPerThread, "the CPU's default until set")
        #if arch(x86_64)
        // The default follows the vendor /proc/cpuinfo names: one stream on AMD, two elsewhere.
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }) {
            XCTAssertEqual(MatvecStreams.defaultPerThread, line.hasSuffix("AuthenticAMD") ? 1 : 2, String(line))
        }
        #endif
        MatvecStreams.perThread = 1
        XCTAssertEqual(MatvecStreams.perThread, 1)
        MatvecStreams.perThread = 7
        XCTAssertEqual(MatvecStreams.perThread, 2, "more than two is two")
        XCTAssertEqual(vv_x8_set_matvec_streams(0), 2, "0 only asks")
        MatvecStreams.perThread = 1
        XCTAssertEqual(vv_x8_set_matvec_streams(-1), 1, "less than 1 only asks")
    }

    func testActivationQuantisationIsIdenticalOnEveryPathAndWithinHalfAStep() {
        for n in [1, 5, 31, 32, 33, 100, 3584] {
            let x = randomMatrix(1, n, scale: 3)
            vv_set_force_scalar(1)
            let scalar = quantizeActivation(x)
            for level in Self.levels {
                vv_quant_set_max_level(level)
                let other = quantizeActivation(x)
                XCTAssertEqual(scalar.q, other.q, "n=\(n) level \(level)")
                XCTAssertEqual(scalar.d, other.d, "n=\(n) level \(level)")
            }
            vv_set_force_scalar(0)
            let simd = quantizeActivation(x)
            for i in 0..<n {
                let d = simd.d[i / 32]
                XCTAssertLessThanOrEqual(abs(Float(simd.q[i]) * d - x[i]), 0.5 * d * 1.0001, "n=\(n) i=\(i)")
                XCTAssertLessThanOrEqual(abs(Int(simd.q[i])), 127)
            }
            for i in n..<(simd.q.count) { XCTAssertEqual(simd.q[i], 0, "padding must be zero") }
        }
    }

    /// Both layouts: the interleaved decode layout (what `Linear` makes by default) and the stored one.
    func testMatvecIsBitIdenticalToScalarAndEqualsTheIntegerArithmetic() throws {
        for format in DType.blockFormats {
            for (rows, cols) in Self.shapes {
              for layout in [true, false] {
                let w = try quantized(randomMatrix(rows, cols), rows: rows, cols: cols, format)
                let x = randomMatrix(1, cols, scale: 2)
                XCTAssertEqual(Linear(weight: w, bias: nil, decodeLayout: layout).weight.interleaved8, layout)
                vv_set_force_scalar(1)
                let scalar = Linear(weight: w, bias: nil, decodeLayout: layout).forward(x, rows: 1)
                for level in Self.levels.dropFirst() {
                    vv_quant_set_max_level(level)
                    // The x8 mat-vec walks each thread's groups in one or two streams; an odd group count leaves
                    // one group to walk alone (37, 13, 9, 1031 rows).
                    for streams in [1, 2] {
                        MatvecStreams.perThread = streams
                        let other = Linear(weight: w, bias: nil, decodeLayout: layout).forward(x, rows: 1)
                        XCTAssertEqual(scalar.map(\.bitPattern), other.map(\.bitPattern),
                                       "\(format) \(rows)x\(cols) level \(level) x8 \(layout) streams \(streams)")
                    }
                    MatvecStreams.perThread = MatvecStreams.defaultPerThread
                }
                vv_set_force_scalar(0)
                let simd = Linear(weight: w, bias: nil, decodeLayout: layout).forward(x, rows: 1)

                // The same sum in double precision: dequantised weights times the quantised activation.
                let (qx, dx) = quantizeActivation(x)
                let dense = w.toFloatArray()
                for r in 0..<rows {
                    var ref = 0.0
                    for c in 0..<cols { ref += Double(dense[r * cols + c]) * Double(qx[c]) * Double(dx[c / 32]) }
                    // Only the float accumulation of ≤ 5 block terms per lane differs from the exact sum.
                    XCTAssertEqual(Double(simd[r]), ref, accuracy: 1e-5 * max(1, abs(ref)), "\(format) \(rows)x\(cols) r=\(r)")
                }
              }
            }
        }
    }

    /// The interleaved decode layout of both formats (what `Linear` keeps): the same values as the stored layout
    /// (row widening and element access), rows padded to groups of 8, and every path's mat-vec equal bit for bit
    /// to the documented arithmetic written out here (per row, one fused multiply-add per block in block order).
    func testInterleavedLayoutHoldsTheSameValuesAndFollowsItsArithmetic() throws {
        for format in DType.blockFormats {
        for (rows, cols) in Self.shapes {
            let plain = try quantized(randomMatrix(rows, cols), rows: rows, cols: cols, format)
            let x8 = plain.interleavedForDecode()
            XCTAssertTrue(x8.interleaved8)
            XCTAssertFalse(plain.interleaved8)
            XCTAssertEqual(x8.toFloatArray(), plain.toFloatArray(), "\(rows)x\(cols)")
            for i in stride(from: 0, to: rows * cols, by: max(1, rows * cols / 997)) {
                XCTAssertEqual(x8.element(i), plain.element(i), "\(rows)x\(cols) i=\(i)")
            }
            let padded = (rows + 7) / 8 * 8
            XCTAssertEqual(x8.byteCount, padded * plain.blocksPerRow * (format == .q8_0 ? 34 : 18))
            XCTAssertEqual(x8.interleavedForDecode().data, x8.data, "interleaving twice is a no-op")

            let x = randomMatrix(1, cols, scale: 2)
            let (qx, dx) = quantizeActivation(x)
            let nb = plain.blocksPerRow
            var expected = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                var acc: Float = 0
                for b in 0..<nb {
                    var sum = 0
                    // The block's scale and integer values, read back from the stored layout.
                    let d = Float(Float16(bitPattern: plain.scales!.load(fromByteOffset: (r * nb + b) * 2, as: UInt16.self)))
                    for j in 0..<32 { sum += storedValue(plain, block: r * nb + b, j) * Int(qx[b * 32 + j]) }
                    acc = acc.addingProduct(d * dx[b], Float(sum))
                }
                expected[r] = acc
            }
            for level in Self.levels {
                vv_quant_set_max_level(level)
                let y = Linear(weight: plain, bias: nil).forward(x, rows: 1)
                XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "\(format) \(rows)x\(cols) level \(level)")
            }
            vv_set_force_scalar(0)
        }
        }
    }

    /// Dequantised rows (prefill and the encoders' tiles) on every path equal scale × value read from the stored
    /// blocks, for both formats and the interleaved q4_0 layout, including partial last blocks.
    func testDequantisedRowsEqualTheStoredValuesOnEveryPath() throws {
        defer { vv_set_force_scalar(0) }
        for (rows, cols) in Self.shapes {
            for format in DType.blockFormats {
                let plain = try quantized(randomMatrix(rows, cols), rows: rows, cols: cols, format)
                let nb = plain.blocksPerRow
                var expected = [Float](repeating: 0, count: rows * cols)
                for r in 0..<rows {
                    for c in 0..<cols {
                        let b = c / 32, j = c % 32
                        let d = Float(Float16(bitPattern: plain.scales!.load(fromByteOffset: (r * nb + b) * 2, as: UInt16.self)))
                        expected[r * cols + c] = d * Float(storedValue(plain, block: r * nb + b, j))
                    }
                }
                let layouts = [plain, plain.interleavedForDecode()]
                for level in Self.levels {
                    vv_quant_set_max_level(level)
                    for w in layouts {
                        XCTAssertEqual(w.toFloatArray().map(\.bitPattern), expected.map(\.bitPattern),
                                       "\(format) \(rows)x\(cols) level \(level) x8 \(w.interleaved8)")
                        if rows > 2 {
                            var part = [Float](repeating: 0, count: 2 * cols)
                            part.withUnsafeMutableBufferPointer { w.widenRows(1, 2, into: $0.baseAddress!) }
                            XCTAssertEqual(part.map(\.bitPattern), expected[cols..<(3 * cols)].map(\.bitPattern),
                                           "\(format) \(rows)x\(cols) rows 1-2 level \(level)")
                        }
                    }
                }
            }
        }
    }

    func testMatvecApproximatesTheFloatProduct() throws {
        // Against the unquantised weights: the error is that of the two quantisations (weight and activation).
        for format in DType.blockFormats {
            let (rows, cols) = (64, 512)
            let values = randomMatrix(rows, cols)
            let x = randomMatrix(1, cols, scale: 1)
            let y = Linear(weight: try quantized(values, rows: rows, cols: cols, format), bias: nil).forward(x, rows: 1)
            var errors = 0.0, norms = 0.0
            for r in 0..<rows {
                var ref = 0.0
                for c in 0..<cols { ref += Double(values[r * cols + c]) * Double(x[c]) }
                errors += (Double(y[r]) - ref) * (Double(y[r]) - ref)
                norms += ref * ref
            }
            let relative = (errors / norms).squareRoot()
            // Uniform values: q8_0 steps are 1/127 of the block maximum (relative error ~0.5 %), q4_0 steps 1/8
            // (~8 %); measured 0.006 and 0.09. Bounds at about twice that.
            XCTAssertLessThan(relative, format == .q8_0 ? 0.015 : 0.2, "\(format)")
        }
    }

    func testSeveralRowsGoThroughDequantisedTilesAndSgemm() throws {
        for format in DType.blockFormats {
            for (rows, cols, m) in [(33, 70, 9), (300, 40, 17), (16, 64, 12)] {   // more rows than the mat-vec kernels take
                let w = try quantized(randomMatrix(rows, cols), rows: rows, cols: cols, format)
                let bias = randomMatrix(1, rows)
                let x = randomMatrix(m, cols, scale: 1)
                let y = Linear(weight: w, bias: bias).forward(x, rows: m)
                let dense = w.toFloatArray()
                for r in 0..<m {
                    for o in 0..<rows {
                        var ref = Double(bias[o])
                        for c in 0..<cols { ref += Double(dense[o * cols + c]) * Double(x[r * cols + c]) }
                        XCTAssertEqual(Double(y[r * rows + o]), ref, accuracy: 1e-5, "\(format) \(rows)x\(cols) m=\(m)")
                    }
                }
            }
        }
    }

    func testElementAccessMatchesRowWidening() throws {
        for format in DType.blockFormats {
            let (rows, cols) = (7, 45)
            let w = try quantized(randomMatrix(rows, cols), rows: rows, cols: cols, format)
            let dense = w.toFloatArray()
            for i in 0..<(rows * cols) { XCTAssertEqual(w.element(i), dense[i], "\(format) i=\(i)") }
            XCTAssertEqual(w.byteCount, rows * 2 * (format.blockPayloadBytes + 2))
        }
    }

    /// The quantiser reports every source row as read exactly once (what quantise-on-load releases by).
    func testQuantiserReportsEachRowReadOnce() throws {
        let rows = 1001, cols = 96
        let values = randomMatrix(rows, cols)
        let seen = RowLog()
        for format in DType.blockFormats {
            seen.reset()
            let q = try WeightQuantizer.quantize(OwnedWeightBuffer.tensor(values, shape: [rows, cols]), to: format,
                                                 rowsRead: { seen.add($0) })
            XCTAssertEqual(seen.counts, [Int](repeating: 1, count: rows), "\(format)")
            let plain = try quantized(values, rows: rows, cols: cols, format)
            XCTAssertEqual(Data(bytes: q.data, count: q.payloadByteCount), Data(bytes: plain.data, count: plain.payloadByteCount))
            XCTAssertEqual(Data(bytes: q.scales!, count: q.scaleByteCount), Data(bytes: plain.scales!, count: plain.scaleByteCount))
        }
    }

    func testQuantiserRejectsNonFiniteAndOversizedValues() {
        var values = randomMatrix(40, 64)
        values[21 * 64 + 7] = .nan
        XCTAssertThrowsError(try quantized(values, rows: 40, cols: 64, .q8_0)) {
            XCTAssertEqual($0 as? QuantizationError, .nonFiniteValue(row: 21))
        }
        values[21 * 64 + 7] = 0
        values[33 * 64] = 1e9
        for format in DType.blockFormats {
            XCTAssertThrowsError(try quantized(values, rows: 40, cols: 64, format)) {
                XCTAssertEqual($0 as? QuantizationError, .scaleOverflow(row: 33), "\(format)")
            }
        }
        XCTAssertThrowsError(try WeightQuantizer.quantize(OwnedWeightBuffer.tensor([1, 2], shape: [2]), to: .q8_0))
        XCTAssertThrowsError(try WeightQuantizer.quantize(OwnedWeightBuffer.tensor([1, 2], shape: [1, 2]), to: .bf16))
    }

    func testHalfPrecisionConversionMatchesFloat16() {
        // The quantiser's f32 -> f16 rounding (scales) against Swift's Float16 (IEEE nearest-even).
        var rng = SystemRandomNumberGenerator()
        var samples: [Float] = [0, -0, 65504, 65519.99, 65520, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5, 6.097e-5, 1, 1.0009765625]
        for _ in 0..<20000 {
            samples.append(Float(bitPattern: UInt32.random(in: 0x3000_0000...0x4800_0000, using: &rng)))
        }
        for f in samples + samples.map({ -$0 }) {
            let q = try? WeightQuantizer.quantize(OwnedWeightBuffer.tensor([Float](repeating: f * 127, count: 32), shape: [1, 32]),
                                                  to: .q8_0)
            let expected = Float16(f)
            if expected.isInfinite {
                XCTAssertNil(q, "\(f)")
            } else if let q {
                let bits = q.scales!.load(as: UInt16.self)
                // The scale is |max| / 127 = |f| (up to the f32 division's rounding).
                XCTAssertEqual(bits, Float16(abs(f * 127) / 127).bitPattern, "\(f)")
            }
        }
    }
}

private final class RowLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var counts = [Int](repeating: 0, count: 1001)
    func reset() { lock.lock(); counts = [Int](repeating: 0, count: 1001); lock.unlock() }
    func add(_ r: Range<Int>) { lock.lock(); for i in r { counts[i] += 1 }; lock.unlock() }
}
