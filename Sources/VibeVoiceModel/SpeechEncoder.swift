import Foundation
import VibeVoiceCompute

/// One causal 1-D convolution of the speech encoders (SPEC.md section 3), over time-major
/// activations `[T, C]`. Left padding is `(kernel − 1) − (stride − 1)`; in streaming use the
/// padding comes from the previous chunk's last input rows, exactly like transformers'
/// `Conv1dPaddingCache`, so chunked encoding equals one pass.
struct CausalConv1d: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    let stride: Int
    let depthwise: Bool
    let leftPad: Int
    /// Dense: weight viewed as `[out, in·kernel]` (im2col order `ci·kernel + k`).
    let dense: Linear?
    /// Depthwise: kernel transposed to `[kernel][channels]` in f32.
    let depthwiseKernel: [Float]
    let bias: [Float]

    init(weights: WeightSource, prefix: String, inChannels: Int, outChannels: Int,
         kernel: Int, stride: Int = 1, depthwise: Bool = false) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.depthwise = depthwise
        self.leftPad = (kernel - 1) - (stride - 1)
        bias = try weights.floats(prefix + ".bias", shape: [outChannels])
        if depthwise {
            precondition(inChannels == outChannels)
            let w = try weights.tensor(prefix + ".weight", shape: [outChannels, 1, kernel]).toFloatArray()
            var t = [Float](repeating: 0, count: kernel * outChannels)
            for c in 0..<outChannels { for k in 0..<kernel { t[k * outChannels + c] = w[c * kernel + k] } }
            depthwiseKernel = t
            dense = nil
        } else {
            let w = try weights.tensor(prefix + ".weight", shape: [outChannels, inChannels, kernel])
            let flat = WeightTensor(dtype: w.dtype, shape: [outChannels, inChannels * kernel],
                                    data: w.data, owner: w.owner)
            dense = Linear(weight: flat, bias: nil)
            depthwiseKernel = []
        }
    }

    /// Output length for `t` new input rows.
    func outputLength(_ t: Int) -> Int {
        let span = leftPad + t - kernel
        return span < 0 ? 0 : span / stride + 1
    }

    /// Convolves `x [t, inChannels]` preceded by `state [leftPad, inChannels]` (the previous
    /// chunk's tail, zeros at the start) and replaces `state` with the new tail.
    func forward(_ x: [Float], rows t: Int, state: inout [Float]) -> (out: [Float], rows: Int) {
        let c = inChannels
        // padded = state ++ x
        var padded = [Float](repeating: 0, count: (leftPad + t) * c)
        padded.withUnsafeMutableBufferPointer { p in
            state.withUnsafeBufferPointer { s in
                if leftPad > 0 { p.baseAddress!.update(from: s.baseAddress!, count: leftPad * c) }
            }
            x.withUnsafeBufferPointer { xs in
                if t > 0 { (p.baseAddress! + leftPad * c).update(from: xs.baseAddress!, count: t * c) }
            }
        }
        if leftPad > 0 {
            state = Array(padded[(t * c)..<((leftPad + t) * c)])
        }
        let tOut = outputLength(t)
        var out = [Float](repeating: 0, count: tOut * outChannels)
        guard tOut > 0 else { return (out, 0) }
        padded.withUnsafeBufferPointer { pp in
            out.withUnsafeMutableBufferPointer { op in
                let p = pp.baseAddress!
                let o = op.baseAddress!
                if depthwise {
                    depthwiseForward(p, rows: tOut, into: o)
                } else {
                    denseForward(p, rows: tOut, into: o)
                }
            }
        }
        return (out, tOut)
    }

    private func depthwiseForward(_ p: UnsafePointer<Float>, rows tOut: Int, into o: UnsafeMutablePointer<Float>) {
        let c = outChannels
        let k = kernel
        let s = stride
        depthwiseKernel.withUnsafeBufferPointer { wk in
            bias.withUnsafeBufferPointer { b in
                let w = wk.baseAddress!
                let bb = b.baseAddress!
                Parallel.forRanges(tOut, minChunk: 256) { t0, t1 in
                    for t in t0..<t1 {
                        let orow = o + t * c
                        orow.update(from: bb, count: c)
                        let base = p + t * s * c
                        for j in 0..<k {
                            let xr = base + j * c
                            let wr = w + j * c
                            for ch in 0..<c { orow[ch] += wr[ch] * xr[ch] }
                        }
                    }
                }
            }
        }
    }

    private func denseForward(_ p: UnsafePointer<Float>, rows tOut: Int, into o: UnsafeMutablePointer<Float>) {
        guard let dense else { return }
        let c = inChannels
        let k = kernel
        let cols = c * k
        // im2col in blocks of output rows, bounding scratch to ~32 MB.
        let blockRows = max(1, min(tOut, (8 << 20) / max(1, cols)))
        let col = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * cols)
        defer { col.deallocate() }
        var t0 = 0
        while t0 < tOut {
            let n = min(blockRows, tOut - t0)
            let tBase = t0
            Parallel.forRanges(n, minChunk: 64) { r0, r1 in
                for r in r0..<r1 {
                    let src = p + (tBase + r) * stride * c     // row of the first tap
                    let dst = col + r * cols
                    for ci in 0..<c {
                        let d = dst + ci * k
                        for j in 0..<k { d[j] = src[j * c + ci] }
                    }
                }
            }
            dense.forward(col, rows: n, into: o + t0 * outChannels)
            t0 += n
        }
        bias.withUnsafeBufferPointer { b in
            let b0 = b.baseAddress!
            let c = outChannels
            Parallel.forRanges(tOut, minChunk: max(1, 16384 / c)) { t0, t1 in
                for t in t0..<t1 {
                    let row = o + t * c
                    for ch in 0..<c { row[ch] += b0[ch] }
                }
            }
        }
    }
}

/// ConvNeXt-style block: depthwise causal mixer and a GELU feed-forward, each pre-normed
/// (channel RMSNorm) and scaled by a learned per-channel gamma.
struct ConvNeXtBlock: Sendable {
    let dim: Int
    let norm: [Float]
    let ffnNorm: [Float]
    let gamma: [Float]
    let ffnGamma: [Float]
    let mixer: CausalConv1d
    let linear1: Linear
    let linear2: Linear
    let eps: Float

    init(weights: WeightSource, prefix: String, dim: Int, config: SpeechEncoderConfig) throws {
        self.dim = dim
        eps = config.rmsNormEps
        norm = try weights.floats(prefix + ".norm.weight", shape: [dim])
        ffnNorm = try weights.floats(prefix + ".ffn_norm.weight", shape: [dim])
        gamma = try weights.floats(prefix + ".gamma", shape: [dim])
        ffnGamma = try weights.floats(prefix + ".ffn_gamma", shape: [dim])
        mixer = try CausalConv1d(weights: weights, prefix: prefix + ".mixer.conv", inChannels: dim,
                                 outChannels: dim, kernel: config.kernelSize, depthwise: true)
        let hidden = config.ffnExpansion * dim
        linear1 = try weights.linear(prefix + ".ffn.linear1", out: hidden, in: dim, bias: true)
        linear2 = try weights.linear(prefix + ".ffn.linear2", out: dim, in: hidden, bias: true)
    }

    func forward(_ x: inout [Float], rows t: Int, state: inout [Float]) {
        let d = dim
        // Mixer branch.
        var h = x
        Ops.rmsNorm(&h, rows: t, dim: d, weight: norm, eps: eps)
        let (mixed, _) = mixer.forward(h, rows: t, state: &state)
        x.withUnsafeMutableBufferPointer { xp in
            mixed.withUnsafeBufferPointer { mp in
                gamma.withUnsafeBufferPointer { g in
                    let x0 = xp.baseAddress!, m0 = mp.baseAddress!, g0 = g.baseAddress!
                    Parallel.forRanges(t, minChunk: max(1, 16384 / d)) { r0, r1 in
                        for r in r0..<r1 {
                            let xr = x0 + r * d
                            let mr = m0 + r * d
                            for c in 0..<d { xr[c] += g0[c] * mr[c] }
                        }
                    }
                }
            }
        }
        // Feed-forward branch, in row blocks so the 4×-wide intermediate stays bounded.
        let hidden = linear1.outFeatures
        let blockRows = max(1, min(t, (4 << 20) / hidden))
        var normed = [Float](repeating: 0, count: blockRows * d)
        var mid = [Float](repeating: 0, count: blockRows * hidden)
        var outBlock = [Float](repeating: 0, count: blockRows * d)
        var r0 = 0
        while r0 < t {
            let n = min(blockRows, t - r0)
            x.withUnsafeMutableBufferPointer { xp in
                normed.withUnsafeMutableBufferPointer { np in
                    ffnNorm.withUnsafeBufferPointer { w in
                        Ops.rmsNorm(xp.baseAddress! + r0 * d, rows: n, dim: d, weight: w.baseAddress!,
                                    eps: eps, into: np.baseAddress!)
                    }
                    mid.withUnsafeMutableBufferPointer { mp in
                        linear1.forward(np.baseAddress!, rows: n, into: mp.baseAddress!)
                        Ops.geluInPlace(mp.baseAddress!, count: n * hidden)
                        outBlock.withUnsafeMutableBufferPointer { op in
                            linear2.forward(mp.baseAddress!, rows: n, into: op.baseAddress!)
                            ffnGamma.withUnsafeBufferPointer { g in
                                for r in 0..<n {
                                    let xr = xp.baseAddress! + (r0 + r) * d
                                    let orow = op.baseAddress! + r * d
                                    for c in 0..<d { xr[c] += g[c] * orow[c] }
                                }
                            }
                        }
                    }
                }
            }
            r0 += n
        }
    }
}

/// A σ-VAE speech encoder (acoustic or semantic): stem, six downsampling stages, head.
/// Hop = product of downsampling ratios (3200 for the released model).
public final class SpeechEncoder: Sendable {
    public let config: SpeechEncoderConfig
    /// Convolutions in execution order, each followed by its blocks.
    private let stages: [(conv: CausalConv1d, blocks: [ConvNeXtBlock])]
    private let head: CausalConv1d

    /// Loads the encoder whose tensors start with `prefix` (e.g. `acoustic_tokenizer_encoder`).
    public init(weights: WeightSource, prefix: String, config: SpeechEncoderConfig) throws {
        self.config = config
        let f = config.numFilters
        var stages: [(CausalConv1d, [ConvNeXtBlock])] = []
        let stem = try CausalConv1d(weights: weights, prefix: prefix + ".stem.conv.conv",
                                    inChannels: config.channels, outChannels: f, kernel: config.kernelSize)
        let stemBlocks = try (0..<config.depths[0]).map {
            try ConvNeXtBlock(weights: weights, prefix: prefix + ".stem.stage.\($0)", dim: f, config: config)
        }
        stages.append((stem, stemBlocks))
        for (i, r) in config.downsamplingRatios.enumerated() {
            let cin = f << i
            let cout = f << (i + 1)
            let conv = try CausalConv1d(weights: weights, prefix: prefix + ".conv_layers.\(i).conv.conv",
                                        inChannels: cin, outChannels: cout, kernel: 2 * r, stride: r)
            let blocks = try (0..<config.depths[i + 1]).map {
                try ConvNeXtBlock(weights: weights, prefix: prefix + ".conv_layers.\(i).stage.\($0)",
                                  dim: cout, config: config)
            }
            stages.append((conv, blocks))
        }
        self.stages = stages
        head = try CausalConv1d(weights: weights, prefix: prefix + ".head.conv",
                                inChannels: f << config.downsamplingRatios.count,
                                outChannels: config.hiddenSize, kernel: config.kernelSize)
    }

    /// Streaming state: one padding cache per convolution.
    public struct State: Sendable {
        var caches: [[Float]]
    }

    public func makeState() -> State {
        var caches: [[Float]] = []
        for (conv, blocks) in stages {
            caches.append([Float](repeating: 0, count: conv.leftPad * conv.inChannels))
            for b in blocks { caches.append([Float](repeating: 0, count: b.mixer.leftPad * b.dim)) }
        }
        caches.append([Float](repeating: 0, count: head.leftPad * head.inChannels))
        return State(caches: caches)
    }

    /// Encodes one chunk of mono samples, continuing from `state`. Returns latents `[frames, hiddenSize]`.
    public func encodeChunk(_ samples: [Float], state: inout State) -> (latents: [Float], frames: Int) {
        var x = samples
        var t = samples.count / config.channels
        var ci = 0
        for (conv, blocks) in stages {
            (x, t) = conv.forward(x, rows: t, state: &state.caches[ci])
            ci += 1
            for b in blocks {
                b.forward(&x, rows: t, state: &state.caches[ci])
                ci += 1
            }
        }
        let (out, frames) = head.forward(x, rows: t, state: &state.caches[ci])
        return (out, frames)
    }

    /// Floating-point operations (2 per multiply-add) of one pass over `samples` samples: the dense convolutions
    /// as im2col GEMMs (out × in·kernel per output frame), the depthwise mixers (kernel per channel and frame)
    /// and the feed-forwards (2 · 4d² per frame). Norms, GELU and residual adds are left out (they are not
    /// multiply-adds of a matrix product).
    public func flops(samples: Int) -> Double {
        var t = samples / config.channels
        var total = 0.0
        func conv(_ c: CausalConv1d) {
            let out = c.outputLength(t)
            total += 2 * Double(out) * Double(c.outChannels) * Double(c.inChannels) * Double(c.kernel)
            t = out
        }
        for (c, blocks) in stages {
            conv(c)
            for b in blocks {
                total += 2 * Double(t) * Double(b.dim) * Double(b.mixer.kernel)
                total += 2 * Double(t) * 2 * Double(b.dim) * Double(b.linear1.outFeatures)
            }
        }
        conv(head)
        return total
    }

    /// Encodes a whole signal in chunks of `chunkSize` samples (the result does not depend on it).
    public func encode(_ samples: [Float], chunkSize: Int) -> (latents: [Float], frames: Int) {
        var state = makeState()
        var all: [Float] = []
        var frames = 0
        var start = 0
        let step = max(1, chunkSize)
        while start < samples.count {
            let end = min(samples.count, start + step)
            let (l, f) = encodeChunk(Array(samples[start..<end]), state: &state)
            all.append(contentsOf: l)
            frames += f
            start = end
        }
        return (all, frames)
    }
}
