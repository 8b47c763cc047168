import CKernels

/// Several rows (prefill, encoders): BLAS sgemm over weight tiles widened (dequantised) to f32 on the fly.
extension Linear {
    func gemm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
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
