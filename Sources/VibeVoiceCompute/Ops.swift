import Foundation
import CKernels

/// Elementwise and row-wise operations on f32 activations, matching the reference's f32 math.
public enum Ops {
    /// Row-wise RMSNorm: out = x · rsqrt(mean(x²) + eps) · w, over rows of length `dim` (the vectorised kernel,
    /// f32 throughout as the reference computes it). `out` may alias `x`.
    public static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: UnsafePointer<Float>,
                               eps: Float, into out: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(rows, minChunk: max(1, 16384 / max(1, dim))) { r0, r1 in
            vv_rmsnorm_rows(x + r0 * dim, dim, r1 - r0, dim, weight, eps, out + r0 * dim, dim)
        }
    }

    public static func rmsNorm(_ x: inout [Float], rows: Int, dim: Int, weight: [Float], eps: Float) {
        x.withUnsafeMutableBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                rmsNorm(xp.baseAddress!, rows: rows, dim: dim, weight: wp.baseAddress!, eps: eps, into: xp.baseAddress!)
            }
        }
    }

    /// Exact GELU: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)).
    @inline(__always)
    public static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + erff(x * 0.70710678118654752440))
    }

    /// SiLU: x · sigmoid(x).
    @inline(__always)
    public static func silu(_ x: Float) -> Float {
        x / (1 + expf(-x))
    }

    /// Exact GELU in place: the vectorised kernel (a rational erf within 2e-7 · max(1, |x|) of the exact value, the
    /// same order of error as `gelu` above with the C library's erff).
    public static func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, minChunk: 1 << 14) { b, e in vv_gelu_f32(x + b, e - b) }
    }

    /// Numerically stable softmax over `count` values in place.
    public static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var m = -Float.infinity
        for i in 0..<count where x[i] > m { m = x[i] }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - m)
            x[i] = e
            sum += e
        }
        let inv = 1 / sum
        for i in 0..<count { x[i] *= inv }
    }
}

/// Rotary position embedding tables (non-interleaved, `rotate_half` convention), computed in f32
/// exactly as the reference does: inv_freq = 1 / θ^(2i/d), angle = position · inv_freq.
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    public let invFreq: [Float]

    public init(headDim: Int, theta: Double) {
        precondition(headDim % 2 == 0, "head_dim must be even")
        self.headDim = headDim
        let half = headDim / 2
        var inv = [Float](repeating: 0, count: half)
        let base = Float(theta)
        for i in 0..<half {
            let exponent = Float(2 * i) / Float(headDim)
            inv[i] = 1 / powf(base, exponent)
        }
        invFreq = inv
    }

    /// Writes cos and sin (each `headDim/2` values) for `position`.
    @inline(__always)
    public func angles(position: Int, cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>) {
        let p = Float(position)
        for i in 0..<invFreq.count {
            let a = p * invFreq[i]
            c[i] = cosf(a)
            s[i] = sinf(a)
        }
    }

    /// Rotates one head vector in place given its cos/sin tables.
    @inline(__always)
    public func apply(_ v: UnsafeMutablePointer<Float>, cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
        let half = headDim / 2
        for i in 0..<half {
            let a = v[i]
            let b = v[i + half]
            v[i] = a * c[i] - b * s[i]
            v[i + half] = b * c[i] + a * s[i]
        }
    }
}
