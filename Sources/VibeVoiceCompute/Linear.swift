import CKernels

/// A dense layer y = x·Wᵀ + b over a weight in its stored dtype.
///
/// One row (decode) goes through the threaded SIMD mat-vec that reads the stored dtype directly (block
/// formats: integer dot products against the activation quantised once to Q8 blocks); up to
/// `maxMatvecRows` rows (speculative verification, batched decoding) through multi-row kernels that stream
/// the weight once and give each row the one-row result bit for bit. More rows (prefill, encoders) go
/// through BLAS sgemm; non-f32 weights are widened (dequantised) to f32 one tile
/// of output rows at a time, so the full weight is never widened. With the opt-in `int8GEMM`, any number of rows
/// times a Q8_0 or Q4_0 weight take the multi-row integer kernels instead (cache-blocked for many rows).
public struct Linear: @unchecked Sendable {
    public let weight: WeightTensor
    public let bias: [Float]?
    public let outFeatures: Int
    public let inFeatures: Int

    /// Largest widened tile, in f32 elements (16 MB).
    static let tileElements = 4 << 20

    /// Up to this many rows go through the multi-row mat-vec kernels (each weight streamed once, every row
    /// bit-identical to a one-row step); more rows go through sgemm.
    public static let maxMatvecRows = 8

    /// `decodeLayout` (default): Q8_0 and Q4_0 go into the interleaved decode layout (a copy; the caller may release
    /// the stored pages). Without it the weight is kept as given (a layer built only to check a checkpoint).
    public init(weight: WeightTensor, bias: [Float]?, decodeLayout: Bool = true) {
        precondition(weight.shape.count >= 2, "Linear weight must be at least 2-D")
        self.weight = decodeLayout ? weight.interleavedForDecode() : weight
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
        } else if rows > 1 && (rows <= Linear.maxMatvecRows || (Linear.int8GEMM && weight.dtype.isBlockFormat)) {
            matmulRows(x, rows: rows, into: y, ldy: ldy)
            if let bias {
                for r in 0..<rows { for o in 0..<outFeatures { y[r * ldy + o] += bias[o] } }
            }
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

    /// Any number of rows through the mat-vec kernels only (in groups of `maxMatvecRows`, each weight row
    /// streamed once per group), so every row gets exactly the bits a one-row `forward` gives it. Decode
    /// steps of several sequences and speculative verification use this; prefill uses `forward`.
    public func forwardRows(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        var r = 0
        while r < rows {
            let n = min(Linear.maxMatvecRows, rows - r)
            forward(x + r * inFeatures, rows: n, into: y + r * outFeatures)
            r += n
        }
    }
}
