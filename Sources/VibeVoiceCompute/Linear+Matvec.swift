import CKernels

/// One row (decode): the threaded SIMD mat-vec over the stored dtype or block format.
extension Linear {
    func matvec(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let cols = inFeatures
        let w = weight.data
        let dtype = weight.dtype
        if dtype.isBlockFormat {
            quantizedMatvec(x, into: y)
            return
        }
        Parallel.forBalancedRanges(outFeatures, minChunk: 64) { r0, r1 in
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
        if weight.interleaved8 {
            let rows = outFeatures
            Parallel.forBalancedRanges((rows + 7) / 8, minChunk: 8) { g0, g1 in
                if format == .q8_0 {
                    vv_matvec_q8_0x8(q.assumingMemoryBound(to: Int8.self), d, qx, dx, y, nb, rows, g0, g1)
                } else {
                    vv_matvec_q4_0x8(q.assumingMemoryBound(to: UInt8.self), d, qx, dx, y, nb, rows, g0, g1)
                }
            }
            return
        }
        Parallel.forBalancedRanges(outFeatures, minChunk: 64) { r0, r1 in
            if format == .q8_0 {
                vv_matvec_q8_0(q.assumingMemoryBound(to: Int8.self), d, qx, dx, y, nb, r0, r1)
            } else {
                vv_matvec_q4_0(q.assumingMemoryBound(to: UInt8.self), d, qx, dx, y, nb, r0, r1)
            }
        }
    }

    /// `rows` (2...`maxMatvecRows`, or any number for the integer prefill) activation rows at once, x row stride
    /// `inFeatures`, y row stride `ldy`: each weight row is streamed once for all of them (for many rows, once per
    /// cache tile), and row j of the result is bit-identical to `matvec` of x row j (the kernels keep the one-row
    /// arithmetic), so a block of decode rows equals that many single steps.
    func matmulRows(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let cols = inFeatures
        let w = weight.data
        let dtype = weight.dtype
        if dtype.isBlockFormat {
            let nb = weight.blocksPerRow
            let qx = UnsafeMutablePointer<Int8>.allocate(capacity: m * nb * DType.blockLength)
            let dx = UnsafeMutablePointer<Float>.allocate(capacity: m * nb)
            defer { qx.deallocate(); dx.deallocate() }
            Parallel.forRanges(m, minChunk: 32) { j0, j1 in
                for j in j0..<j1 { vv_quantize_act_q8(x + j * cols, cols, qx + j * nb * DType.blockLength, dx + j * nb) }
            }
            let d = weight.scales!.assumingMemoryBound(to: UInt16.self)
            if weight.interleaved8 {
                let rows = outFeatures
                // Each call works out the activation blocks' offsets for all m rows: many rows take one range per
                // thread (compute-bound, no stragglers to balance), a few rows the balanced chunks of decode.
                let split: (Int, Int, (Int, Int) -> Void) -> Void = m > Linear.maxMatvecRows
                    ? { Parallel.forRanges($0, minChunk: $1, $2) } : { Parallel.forBalancedRanges($0, minChunk: $1, $2) }
                split((rows + 7) / 8, 8) { g0, g1 in
                    if dtype == .q8_0 {
                        vv_matmul_q8_0x8(w.assumingMemoryBound(to: Int8.self), d, qx, dx, m, y, ldy, nb, rows, g0, g1)
                    } else {
                        vv_matmul_q4_0x8(w.assumingMemoryBound(to: UInt8.self), d, qx, dx, m, y, ldy, nb, rows, g0, g1)
                    }
                }
                return
            }
            // The stored layout's kernel takes every activation row per weight row: many rows (the integer
            // prefill) go in blocks that stay in cache, the weight streamed once per block.
            let block = 64
            var j0 = 0
            while j0 < m {
                let mj = min(block, m - j0), xj = qx + j0 * nb * DType.blockLength, sj = dx + j0 * nb, yj = y + j0 * ldy
                Parallel.forBalancedRanges(outFeatures, minChunk: 64) { r0, r1 in
                    if dtype == .q8_0 {
                        vv_matmul_q8_0(w.assumingMemoryBound(to: Int8.self), d, xj, sj, mj, yj, ldy, nb, r0, r1)
                    } else {
                        vv_matmul_q4_0(w.assumingMemoryBound(to: UInt8.self), d, xj, sj, mj, yj, ldy, nb, r0, r1)
                    }
                }
                j0 += mj
            }
            return
        }
        Parallel.forBalancedRanges(outFeatures, minChunk: 64) { r0, r1 in
            switch dtype {
            case .f32:
                vv_matmul_f32(w.assumingMemoryBound(to: Float.self), x, cols, m, y, ldy, cols, r0, r1)
            case .bf16:
                vv_matmul_bf16(w.assumingMemoryBound(to: UInt16.self), x, cols, m, y, ldy, cols, r0, r1)
            case .f16:
                vv_matmul_f16(w.assumingMemoryBound(to: UInt16.self), x, cols, m, y, ldy, cols, r0, r1)
            case .i8, .u8, .q8_0, .q4_0:
                preconditionFailure("\(dtype.rawValue) weights have no float mat-vec")
            }
        }
    }
}
