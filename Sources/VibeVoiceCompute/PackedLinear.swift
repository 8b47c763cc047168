import CKernels

/// A dense layer packed for the fused small-GEMM kernel (`vv_gemm_packed_f32`): the weight widened to f32 in
/// panels of 16 outputs, bias and layer scale padded to the panel width. Made once at load for the layers where a
/// general BLAS is slow (few channels, many rows: the speech encoders' early stages); the output's element-wise
/// work (bias, exact GELU, layer scale plus residual) happens in the kernel's last step.
public struct PackedLinear: Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let panels: [Float]
    private let bias: [Float]
    private let scale: [Float]

    /// What the kernel does with each output value `acc` before writing it to `c`.
    public enum Epilogue: Sendable {
        /// c = acc
        case store
        /// c = acc + bias
        case bias
        /// c = gelu(acc + bias) (exact GELU)
        case biasGELU
        /// c += scale · (acc + bias): a layer-scaled residual branch added onto its input
        case biasScaleAdd

        var code: Int32 {
            switch self {
            case .store: return Int32(VV_EPI_STORE)
            case .bias: return Int32(VV_EPI_BIAS)
            case .biasGELU: return Int32(VV_EPI_BIAS_GELU)
            case .biasScaleAdd: return Int32(VV_EPI_BIAS_SCALE_ADD)
            }
        }
    }

    /// From an f32 weight `[out, in]` (row-major, the order the products read each input row in), an optional
    /// bias and an optional per-output scale.
    public init(weight: [Float], outFeatures: Int, inFeatures: Int, bias: [Float]? = nil, scale: [Float]? = nil) {
        precondition(weight.count == outFeatures * inFeatures, "weight size mismatch")
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        let width = vv_packed_panels(outFeatures) * 16
        var p = [Float](repeating: 0, count: width * inFeatures)
        weight.withUnsafeBufferPointer { w in
            p.withUnsafeMutableBufferPointer { vv_pack_panels_f32(w.baseAddress!, outFeatures, inFeatures, inFeatures, $0.baseAddress!) }
        }
        panels = p
        func padded(_ v: [Float]?) -> [Float] {
            guard let v else { return [Float](repeating: 0, count: width) }
            precondition(v.count == outFeatures, "bias/scale length mismatch")
            return v + [Float](repeating: 0, count: width - outFeatures)
        }
        self.bias = padded(bias)
        self.scale = padded(scale)
    }

    /// From a stored `Linear` (widened to f32), with its bias and an optional scale.
    public init(_ linear: Linear, scale: [Float]? = nil) {
        var w = [Float](repeating: 0, count: linear.outFeatures * linear.inFeatures)
        w.withUnsafeMutableBufferPointer { linear.widenRowsSerial(0, linear.outFeatures, into: $0.baseAddress!) }
        self.init(weight: w, outFeatures: linear.outFeatures, inFeatures: linear.inFeatures, bias: linear.bias, scale: scale)
    }

    /// Bytes held (panels, bias, scale).
    public var byteCount: Int { (panels.count + bias.count + scale.count) * 4 }

    /// `c[i, j]` (row stride `ldc`) for `i < rows`, `j < outFeatures` from input rows `a[i·lda ..< i·lda + inFeatures]`
    /// (rows may overlap: `lda < inFeatures` reads a convolution's taps in place). Runs on the calling thread.
    public func forward(_ a: UnsafePointer<Float>, lda: Int, rows: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
                        epilogue: Epilogue) {
        panels.withUnsafeBufferPointer { p in
            bias.withUnsafeBufferPointer { b in
                scale.withUnsafeBufferPointer { s in
                    vv_gemm_packed_f32(a, lda, rows, inFeatures, p.baseAddress!, outFeatures, c, ldc, epilogue.code,
                                       b.baseAddress!, s.baseAddress!)
                }
            }
        }
    }

    /// The same split by rows over `threads` threads.
    public func forward(_ a: UnsafePointer<Float>, lda: Int, rows: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
                        epilogue: Epilogue, threads: Int) {
        Parallel.forRanges(rows, threads: threads, minChunk: 48) { r0, r1 in
            forward(a + r0 * lda, lda: lda, rows: r1 - r0, into: c + r0 * ldc, ldc: ldc, epilogue: epilogue)
        }
    }
}
