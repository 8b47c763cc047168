import Foundation
import VibeVoiceCompute
import CKernels

/// Small f32 vectors (norm weights, biases, layer scales, depthwise kernels) at fixed addresses for the kernels.
final class PinnedFloats: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: max(1, values.count))
        values.withUnsafeBufferPointer { if !$0.isEmpty { pointer.update(from: $0.baseAddress!, count: $0.count) } }
    }
    deinit { pointer.deallocate() }
}

/// Working memory of one encoder stream, reused across chunks and layers so the hot path does not allocate.
final class EncoderWorkspace: @unchecked Sendable {
    /// Scratch of one thread's share of the rows.
    final class Share: @unchecked Sendable {
        let normed = ScratchBuffer(), mid = ScratchBuffer(), out = ScratchBuffer()
        let ring = ScratchBuffer(), halo = ScratchBuffer()
    }
    /// Ping-pong activations of the sub-chunked early stages, then of the late stages.
    let early = [ScratchBuffer(), ScratchBuffer()]
    let late = [ScratchBuffer(), ScratchBuffer()]
    /// The early stages' output for a whole chunk (the late stages' input).
    let joined = ScratchBuffer()
    let col = ScratchBuffer()
    let tile = ScratchBuffer()
    private var shares: [Share] = []

    func share(_ i: Int) -> Share {
        while shares.count <= i { shares.append(Share()) }
        return shares[i]
    }

    /// Makes the shares `0..<n` exist (call before running them concurrently).
    func prepareShares(_ n: Int) { _ = share(max(0, n - 1)) }
}

/// Splits `rows` into at most `threads` contiguous shares of at least `minRows` rows (multiples of 6, the
/// kernels' register tile, except the last) and runs `body(share, begin, end)` on each concurrently.
func forEachShare(_ rows: Int, threads: Int, minRows: Int, workspace: EncoderWorkspace,
                  _ body: (_ share: Int, _ begin: Int, _ end: Int) -> Void) {
    guard rows > 0 else { return }
    let n = max(1, min(threads, rows / max(1, minRows)))
    if n == 1 {
        body(0, 0, rows)
        return
    }
    workspace.prepareShares(n)
    let step = ((rows + n - 1) / n + 5) / 6 * 6
    withoutActuallyEscaping(body) { body in
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: n) { s in
            let b = s * step, e = min(rows, b + step)
            if b < e { task.value(s, b, e) }
        }
    }
}

/// One dense causal 1-D convolution of the speech encoders (SPEC.md section 3), over time-major activations
/// `[T, C]`. Left padding is `(kernel − 1) − (stride − 1)`; in streaming use the padding comes from the previous
/// chunk's last input rows, exactly like transformers' `Conv1dPaddingCache`, so chunked encoding equals one pass.
struct CausalConv1d: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    let stride: Int
    let leftPad: Int
    let bias: PinnedFloats
    /// The stored weight viewed as `[out, in·kernel]` (im2col order `ci·kernel + k`): im2col + BLAS.
    let weight: Linear
    /// Narrow layers: the weight widened to f32 with tap-major columns (`k·in + ci`), so the `kernel` input rows
    /// of each output are read in place (row stride `stride·in`) by the packed kernel, with the bias fused.
    let packed: PackedLinear?

    init(weights: WeightSource, prefix: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.leftPad = (kernel - 1) - (stride - 1)
        let b = try weights.floats(prefix + ".bias", shape: [outChannels])
        bias = PinnedFloats(b)
        let w = try weights.tensor(prefix + ".weight", shape: [outChannels, inChannels, kernel])
        weight = Linear(weight: w.reshaped([outChannels, inChannels * kernel]), bias: nil)
        let cols = inChannels * kernel
        if SpeechEncoderKernels.packs(inFeatures: cols, outFeatures: outChannels) {
            let stored = w.toFloatArray()
            var tapMajor = [Float](repeating: 0, count: stored.count)
            for o in 0..<outChannels {
                for ci in 0..<inChannels {
                    for j in 0..<kernel { tapMajor[o * cols + j * inChannels + ci] = stored[o * cols + ci * kernel + j] }
                }
            }
            packed = PackedLinear(weight: tapMajor, outFeatures: outChannels, inFeatures: cols, bias: b)
        } else {
            packed = nil
        }
    }

    /// Output length for `t` new input rows.
    func outputLength(_ t: Int) -> Int {
        let span = leftPad + t - kernel
        return span < 0 ? 0 : span / stride + 1
    }

    /// `src` points at `leftPad` free rows followed by `t` input rows. Fills the free rows from `state` (the previous
    /// chunk's last `leftPad` input rows), replaces `state` with this chunk's, and writes `outputLength(t)` rows
    /// `[·, outChannels]` to `dst`.
    func forward(_ src: UnsafeMutablePointer<Float>, rows t: Int, state: UnsafeMutablePointer<Float>,
                 into dst: UnsafeMutablePointer<Float>, threads: Int, workspace: EncoderWorkspace, usePacked: Bool) {
        let c = inChannels
        if leftPad > 0 {
            src.update(from: state, count: leftPad * c)
            state.update(from: src + t * c, count: leftPad * c)
        }
        let tOut = outputLength(t)
        guard tOut > 0 else { return }
        if usePacked, let packed {
            packed.forward(src, lda: stride * c, rows: tOut, into: dst, ldc: outChannels, epilogue: .bias, threads: threads)
            return
        }
        // im2col in blocks of output rows (scratch of at most 8 M floats), then BLAS.
        let cols = c * kernel
        let blockRows = max(1, min(tOut, (8 << 20) / max(1, cols)))
        let col = workspace.col.pointer(blockRows * cols)
        var t0 = 0
        while t0 < tOut {
            let n = min(blockRows, tOut - t0)
            let base = t0
            Parallel.forRanges(n, threads: threads, minChunk: 16) { r0, r1 in
                for r in r0..<r1 {
                    let from = src + (base + r) * stride * c
                    let to = col + r * cols
                    for ci in 0..<c {
                        let d = to + ci * kernel
                        for j in 0..<kernel { d[j] = from[j * c + ci] }
                    }
                }
            }
            weight.product(col, rows: n, into: dst + t0 * outChannels, ldy: outChannels, threads: threads,
                           scratch: workspace.tile)
            t0 += n
        }
        let o = outChannels, b = bias.pointer
        Parallel.forRanges(tOut, threads: threads, minChunk: 64) { r0, r1 in
            vv_bias_rows(dst + r0 * o, o, r1 - r0, o, b)
        }
    }
}

/// ConvNeXt-style block: a depthwise causal mixer and a GELU feed-forward, each pre-normed (channel RMSNorm) and
/// scaled by a learned per-channel gamma.
struct ConvNeXtBlock: Sendable {
    let dim: Int
    let hidden: Int
    let kernel: Int
    let eps: Float
    let norm, ffnNorm, gamma, ffnGamma: PinnedFloats
    /// Depthwise kernel `[kernel][dim]` and its bias.
    let depthwiseKernel, depthwiseBias: PinnedFloats
    let linear1, linear2: Linear
    let bias1, bias2: PinnedFloats
    /// Narrow blocks: both feed-forward layers packed, GELU and the scaled residual fused into them.
    let packed1, packed2: PackedLinear?

    /// Rows of normed input the mixer carries from one chunk to the next.
    var historyRows: Int { kernel - 1 }

    init(weights: WeightSource, prefix: String, dim: Int, config: SpeechEncoderConfig) throws {
        self.dim = dim
        kernel = config.kernelSize
        eps = config.rmsNormEps
        norm = PinnedFloats(try weights.floats(prefix + ".norm.weight", shape: [dim]))
        ffnNorm = PinnedFloats(try weights.floats(prefix + ".ffn_norm.weight", shape: [dim]))
        gamma = PinnedFloats(try weights.floats(prefix + ".gamma", shape: [dim]))
        let g2 = try weights.floats(prefix + ".ffn_gamma", shape: [dim])
        ffnGamma = PinnedFloats(g2)
        let w = try weights.tensor(prefix + ".mixer.conv.weight", shape: [dim, 1, kernel]).toFloatArray()
        var t = [Float](repeating: 0, count: kernel * dim)
        for c in 0..<dim { for k in 0..<kernel { t[k * dim + c] = w[c * kernel + k] } }
        depthwiseKernel = PinnedFloats(t)
        depthwiseBias = PinnedFloats(try weights.floats(prefix + ".mixer.conv.bias", shape: [dim]))
        hidden = config.ffnExpansion * dim
        linear1 = try weights.linear(prefix + ".ffn.linear1", out: hidden, in: dim, bias: true)
        linear2 = try weights.linear(prefix + ".ffn.linear2", out: dim, in: hidden, bias: true)
        bias1 = PinnedFloats(linear1.bias!)
        bias2 = PinnedFloats(linear2.bias!)
        if SpeechEncoderKernels.packs(inFeatures: hidden, outFeatures: hidden) {
            packed1 = PackedLinear(linear1)
            packed2 = PackedLinear(linear2, scale: g2)
        } else {
            packed1 = nil
            packed2 = nil
        }
    }

    /// Runs the block in place over `x [t, dim]`; `history [kernel − 1, dim]` holds the normed rows before the first
    /// (zeros at the start of a stream) and is replaced by this chunk's last ones.
    func forward(_ x: UnsafeMutablePointer<Float>, rows t: Int, history: UnsafeMutablePointer<Float>, threads: Int,
                 workspace: EncoderWorkspace, usePacked: Bool) {
        mix(x, rows: t, history: history, threads: threads, workspace: workspace)
        if usePacked, let packed1, let packed2 {
            feedForwardPacked(x, rows: t, packed1, packed2, threads: threads, workspace: workspace)
        } else {
            feedForwardBLAS(x, rows: t, threads: threads, workspace: workspace)
        }
    }

    /// x += gamma ⊙ DepthwiseCausalConv(RMSNorm(x)): one fused pass per share of the rows. A share that does not
    /// start the chunk first takes its `kernel − 1` preceding normed rows (its halo) from the rows as they are
    /// before any share writes.
    private func mix(_ x: UnsafeMutablePointer<Float>, rows t: Int, history: UnsafeMutablePointer<Float>, threads: Int,
                     workspace: EncoderWorkspace) {
        let d = dim, k = kernel, h = historyRows
        let shares = max(1, min(threads, t / 256))
        let step = (t + shares - 1) / shares
        workspace.prepareShares(shares)
        for s in 1..<max(1, shares) {
            let halo = workspace.share(s).halo.pointer(max(1, h * d))
            for i in 0..<h {
                let q = s * step - h + i
                if q < 0 {
                    (halo + i * d).update(from: history + (q + h) * d, count: d)
                } else {
                    vv_rmsnorm_rows(x + q * d, d, 1, d, norm.pointer, eps, halo + i * d, d)
                }
            }
        }
        let body: (Int) -> Void = { s in
            let r0 = s * step, r1 = min(t, r0 + step)
            guard r0 < r1 else { return }
            let sc = workspace.share(s)
            let hist = s == 0 ? history : sc.halo.pointer(max(1, h * d))
            _ = vv_convnext_mixer(x + r0 * d, r1 - r0, d, norm.pointer, eps, depthwiseKernel.pointer, k,
                                  depthwiseBias.pointer, gamma.pointer, hist, sc.ring.pointer(k * d))
        }
        if shares == 1 {
            body(0)
        } else {
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: shares) { task.value($0) }
            // The stream's new history is the last share's.
            let last = workspace.share(shares - 1).halo.pointer(max(1, h * d))
            history.update(from: last, count: h * d)
        }
    }

    /// Tiles of rows small enough that the 4×-wide intermediate stays in L2 (about 192 KB).
    private var packedTileRows: Int { max(6, (49152 / hidden) / 6 * 6) }

    private func feedForwardPacked(_ x: UnsafeMutablePointer<Float>, rows t: Int, _ p1: PackedLinear, _ p2: PackedLinear,
                                   threads: Int, workspace: EncoderWorkspace) {
        let d = dim, hid = hidden, tile = packedTileRows
        forEachShare(t, threads: threads, minRows: 48, workspace: workspace) { s, r0, r1 in
            let sc = workspace.share(s)
            let normed = sc.normed.pointer(tile * d), mid = sc.mid.pointer(tile * hid)
            var r = r0
            while r < r1 {
                let n = min(tile, r1 - r)
                vv_rmsnorm_rows(x + r * d, d, n, d, ffnNorm.pointer, eps, normed, d)
                p1.forward(normed, lda: d, rows: n, into: mid, ldc: hid, epilogue: .biasGELU)
                p2.forward(mid, lda: hid, rows: n, into: x + r * d, ldc: d, epilogue: .biasScaleAdd)
                r += n
            }
        }
    }

    private func feedForwardBLAS(_ x: UnsafeMutablePointer<Float>, rows t: Int, threads: Int, workspace: EncoderWorkspace) {
        let d = dim, hid = hidden
        let blockRows = max(1, min(t, (4 << 20) / hid))
        let sc = workspace.share(0)
        let normed = sc.normed.pointer(blockRows * d), mid = sc.mid.pointer(blockRows * hid)
        let out = sc.out.pointer(blockRows * d)
        var r0 = 0
        while r0 < t {
            let n = min(blockRows, t - r0)
            let xr = x + r0 * d
            Parallel.forRanges(n, threads: threads, minChunk: 16) { a, b in
                vv_rmsnorm_rows(xr + a * d, d, b - a, d, ffnNorm.pointer, eps, normed + a * d, d)
            }
            linear1.product(normed, rows: n, into: mid, ldy: hid, threads: threads, scratch: workspace.tile)
            Parallel.forRanges(n, threads: threads, minChunk: 16) { a, b in
                vv_bias_gelu_rows(mid + a * hid, hid, b - a, hid, bias1.pointer)
            }
            linear2.product(mid, rows: n, into: out, ldy: d, threads: threads, scratch: workspace.tile)
            Parallel.forRanges(n, threads: threads, minChunk: 16) { a, b in
                vv_bias_scale_add_rows(xr + a * d, d, out + a * d, d, b - a, d, bias2.pointer, ffnGamma.pointer)
            }
            r0 += n
        }
    }
}

/// Which products of the speech encoders run on the packed kernel (`PackedLinear`) rather than BLAS.
public enum SpeechEncoderKernels {
    /// Layers with at most this many inputs and outputs are packed at load (the early, narrow stages: up to 256
    /// channels with a 4× feed-forward). Wider layers keep their stored weights and go through BLAS.
    public static let packedWidthLimit = 1024

    /// Off: every product goes through BLAS (im2col for the convolutions), for comparisons and tests.
    nonisolated(unsafe) public static var packedEnabled = true

    static func packs(inFeatures: Int, outFeatures: Int) -> Bool {
        inFeatures <= packedWidthLimit && outFeatures <= packedWidthLimit
    }
}
