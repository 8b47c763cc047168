import CKernels

/// A dense layer y = x·Wᵀ + b over a weight in its stored dtype.
///
/// One row (decode) goes through the threaded SIMD mat-vec that reads the stored dtype directly (block
/// formats: integer dot products against the activation quantised once to Q8 blocks). Several rows
/// (prefill, encoders) go through BLAS sgemm; non-f32 weights are widened (dequantised) to f32 one tile
/// of output rows at a time, so the full weight is never widened.
public struct Linear: @unchecked Sendable {
    public let weight: WeightTensor
    public let bias: [Float]?
    public let outFeatures: Int
    public let inFeatures: Int

    /// Largest widened tile, in f32 elements (16 MB).
    static let tileElements = 4 << 20

    public init(weight: WeightTensor, bias: [Float]?) {
        precondition(weight.shape.count >= 2, "Linear weight must be at least 2-D")
        self.weight = weight
        self.bias = bias
        self.outFeatures = weight.rows
        self.inFeatures = weight.cols
        if let bias { precondition(bias.count == outFeatures, "bias length mismatch") }
    }

    /// y[rows, outFeatures] (row stride `ldy`, default outFeatures) = x[rows, inFeatures]·Wᵀ + b.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        let ldy = ldy ?? outFeatures
        if rows == 1 {
            matvec(x, into: y)
            if let bias { for o in 0..<outFeatures { y[o] += bias[o] } }
        } else if rows > 1 {
            // Rows start as the bias and sgemm accumulates onto them (beta = 1): one pass fewer.
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    Parallel.forRanges(rows, minChunk: 256) { r0, r1 in
                        for r in r0..<r1 { (y + r * ldy).update(from: b.baseAddress!, count: outFeatures) }
                    }
                }
            }
            gemm(x, rows: rows, into: y, ldy: ldy, accumulate: bias != nil)
        }
    }

    /// Convenience over arrays.
    public func forward(_ x: [Float], rows: Int) -> [Float] {
        precondition(x.count == rows * inFeatures, "input size mismatch")
        var y = [Float](repeating: 0, count: rows * outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in forward(xp.baseAddress!, rows: rows, into: yp.baseAddress!) }
        }
        return y
    }

    private func matvec(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let cols = inFeatures
        let w = weight.data
        let dtype = weight.dtype
        if dtype.isBlockFormat {
            quantizedMatvec(x, into: y)
            return
        }
        Parallel.forRanges(outFeatures, minChunk: 64) { r0, r1 in
            switch dtype {
            case .f32:
                vv_matvec_f32(w.assumingMemoryBound(to: Float.self), x, y, cols, r0, r1)
            case .bf16:
                vv_matvec_bf16(w.assumingMemoryBound(to: UInt16.self), x, y, cols, r0, r1)
            case .f16:
                vv_matvec_f16(w.assumingMemoryBound(to: UInt16.self), x, y, cols, r0, r1)
            case .i8, .u8, .q8_0, .q4_0:
                preconditionFailure("\(dtype.rawValue) weights have no float mat-vec")
            }
        }
    }

    /// Block formats: the activation is quantised once to Q8 blocks, then integer dot products per row.
    private func quantizedMatvec(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let nb = weight.blocksPerRow
        let qx = UnsafeMutablePointer<Int8>.allocate(capacity: nb * DType.blockLength)
        let dx = UnsafeMutablePointer<Float>.allocate(capacity: nb)
        defer { qx.deallocate(); dx.deallocate() }
        vv_quantize_act_q8(x, inFeatures, qx, dx)
        let q = weight.data
        let d = weight.scales!.assumingMemoryBound(to: UInt16.self)
        let format = weight.dtype
        Parallel.forRanges(outFeatures, minChunk: 64) { r0, r1 in
            if format == .q8_0 {
                vv_matvec_q8_0(q.assumingMemoryBound(to: Int8.self), d, qx, dx, y, nb, r0, r1)
            } else {
                vv_matvec_q4_0(q.assumingMemoryBound(to: UInt8.self), d, qx, dx, y, nb, r0, r1)
            }
        }
    }

    private func gemm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
                      accumulate: Bool) {
        let k = inFeatures
        let beta: Float = accumulate ? 1 : 0
        if weight.dtype == .f32 {
            BLAS.gemmNT(m: rows, n: outFeatures, k: k, a: x, lda: k,
                        b: weight.data.assumingMemoryBound(to: Float.self), ldb: k, c: y, ldc: ldy, beta: beta)
            return
        }
        let tileRows = max(16, min(outFeatures, Linear.tileElements / max(1, k)))
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * k)
        defer { tile.deallocate() }
        var o0 = 0
        while o0 < outFeatures {
            let n = min(tileRows, outFeatures - o0)
            widenRows(o0, n, into: tile)
            BLAS.gemmNT(m: rows, n: n, k: k, a: x, lda: k, b: tile, ldb: k, c: y + o0, ldc: ldy, beta: beta)
            o0 += n
        }
    }

    /// Widens weight rows [row, row+count) to f32, split across threads.
    public func widenRows(_ row: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        let k = inFeatures
        let w = weight
        Parallel.forRanges(count, minChunk: 8) { r0, r1 in
            w.widenRows(row + r0, r1 - r0, into: dst + r0 * k)
        }
    }
}

extension Linear {
    /// Widens weight rows on the calling thread (for single embedding rows).
    public func widenRowsSerial(_ row: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        weight.widenRows(row, count, into: dst)
    }
}
