import Foundation
import VibeVoiceCompute

/// One Qwen2 decoder layer's weights.
struct Qwen2Layer: Sendable {
    let q, k, v, o: Linear
    let gate, up, down: Linear
    let inputNorm: [Float]
    let postAttentionNorm: [Float]

    init(weights: WeightSource, prefix p: String, config c: DecoderConfig) throws {
        let qDim = c.numHeads * c.headDim
        let kvDim = c.numKVHeads * c.headDim
        q = try weights.linear(p + ".self_attn.q_proj", out: qDim, in: c.hiddenSize, bias: true)
        k = try weights.linear(p + ".self_attn.k_proj", out: kvDim, in: c.hiddenSize, bias: true)
        v = try weights.linear(p + ".self_attn.v_proj", out: kvDim, in: c.hiddenSize, bias: true)
        o = try weights.linear(p + ".self_attn.o_proj", out: c.hiddenSize, in: qDim, bias: false)
        gate = try weights.linear(p + ".mlp.gate_proj", out: c.intermediateSize, in: c.hiddenSize, bias: false)
        up = try weights.linear(p + ".mlp.up_proj", out: c.intermediateSize, in: c.hiddenSize, bias: false)
        down = try weights.linear(p + ".mlp.down_proj", out: c.hiddenSize, in: c.intermediateSize, bias: false)
        inputNorm = try weights.floats(p + ".input_layernorm.weight", shape: [c.hiddenSize])
        postAttentionNorm = try weights.floats(p + ".post_attention_layernorm.weight", shape: [c.hiddenSize])
    }
}

/// The Qwen2 language model (SPEC.md section 5): pre-norm blocks, grouped-query attention with
/// RoPE, SwiGLU MLP, final norm and an untied LM head. f32 activations and KV cache; weights
/// stay in their stored dtype.
public final class Qwen2Decoder: Sendable {
    public let config: DecoderConfig
    let embedTokens: WeightTensor
    let layers: [Qwen2Layer]
    let finalNorm: [Float]
    let lmHead: Linear
    let rope: RotaryEmbedding

    public init(weights: WeightSource, config c: DecoderConfig) throws {
        config = c
        embedTokens = try weights.tensor("language_model.model.embed_tokens.weight", shape: [c.vocabSize, c.hiddenSize])
        layers = try (0..<c.numLayers).map {
            try Qwen2Layer(weights: weights, prefix: "language_model.model.layers.\($0)", config: c)
        }
        finalNorm = try weights.floats("language_model.model.norm.weight", shape: [c.hiddenSize])
        if c.tieWordEmbeddings && !weights.has("language_model.lm_head.weight") {
            lmHead = Linear(weight: embedTokens, bias: nil)
        } else {
            lmHead = try weights.linear("language_model.lm_head", out: c.vocabSize, in: c.hiddenSize, bias: false)
        }
        rope = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.numLayers, kvHeads: config.numKVHeads, headDim: config.headDim, capacity: capacity)
    }

    /// Writes the embedding row of `token` (widened to f32) to `out`.
    public func embed(_ token: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(token >= 0 && token < config.vocabSize, "token id \(token) outside the vocabulary")
        embedTokens.widenRows(token, 1, into: out)
    }

    /// Runs `rows` new positions (embeddings in `x [rows, hidden]`, overwritten with the final
    /// normed hidden states) through every layer, appending their keys and values to `cache`.
    public func forward(_ x: UnsafeMutablePointer<Float>, rows n: Int, cache: KVCache) {
        // A few rows are decode steps: the per-row path, identical to one row at a time.
        if n <= Linear.maxMatvecRows { return decodeForward(x, counts: [n], caches: [cache]) }
        let c = config
        let hd = c.headDim
        let qDim = c.numHeads * hd
        let kvDim = c.numKVHeads * hd
        let p0 = cache.length
        let total = p0 + n
        cache.ensureCapacity(total)

        let h = UnsafeMutablePointer<Float>.allocate(capacity: n * c.hiddenSize)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: n * qDim)
        let k = UnsafeMutablePointer<Float>.allocate(capacity: n * kvDim)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: n * kvDim)
        let attn = UnsafeMutablePointer<Float>.allocate(capacity: n * qDim)
        let gate = UnsafeMutablePointer<Float>.allocate(capacity: n * c.intermediateSize)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: n * c.intermediateSize)
        let cosT = UnsafeMutablePointer<Float>.allocate(capacity: n * hd / 2)
        let sinT = UnsafeMutablePointer<Float>.allocate(capacity: n * hd / 2)
        defer {
            for p in [h, q, k, v, attn, gate, up, cosT, sinT] { p.deallocate() }
        }
        for i in 0..<n {
            rope.angles(position: p0 + i, cos: cosT + i * hd / 2, sin: sinT + i * hd / 2)
        }
        let scale = 1 / Float(hd).squareRoot()

        for (li, layer) in layers.enumerated() {
            // Attention.
            layer.inputNorm.withUnsafeBufferPointer { w in
                Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: h)
            }
            layer.q.forward(h, rows: n, into: q)
            layer.k.forward(h, rows: n, into: k)
            layer.v.forward(h, rows: n, into: v)
            for i in 0..<n {
                let cs = cosT + i * hd / 2, sn = sinT + i * hd / 2
                for head in 0..<c.numHeads { rope.apply(q + i * qDim + head * hd, cos: cs, sin: sn) }
                for head in 0..<c.numKVHeads { rope.apply(k + i * kvDim + head * hd, cos: cs, sin: sn) }
            }
            for head in 0..<c.numKVHeads {
                let kc = cache.keys(layer: li, head: head)
                let vc = cache.values(layer: li, head: head)
                for i in 0..<n {
                    (kc + (p0 + i) * hd).update(from: k + i * kvDim + head * hd, count: hd)
                    (vc + (p0 + i) * hd).update(from: v + i * kvDim + head * hd, count: hd)
                }
            }
            attention(q: q, rows: n, start: p0, total: total, layer: li, cache: cache, scale: scale, into: attn)
            layer.o.forward(attn, rows: n, into: h)
            for i in 0..<(n * c.hiddenSize) { x[i] += h[i] }

            // MLP.
            layer.postAttentionNorm.withUnsafeBufferPointer { w in
                Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: h)
            }
            layer.gate.forward(h, rows: n, into: gate)
            layer.up.forward(h, rows: n, into: up)
            let count = n * c.intermediateSize
            Parallel.forRanges(count, minChunk: 4096) { b, e in
                for i in b..<e { gate[i] = Ops.silu(gate[i]) * up[i] }
            }
            layer.down.forward(gate, rows: n, into: h)
            for i in 0..<(n * c.hiddenSize) { x[i] += h[i] }
        }
        cache.length = total
        finalNorm.withUnsafeBufferPointer { w in
            Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: x)
        }
    }

    /// Causal grouped-query attention of `rows` queries at positions `start..<start+rows` over
    /// the cached keys `0..<total`. Scores are computed one head at a time (scratch rows × total).
    private func attention(q: UnsafeMutablePointer<Float>, rows n: Int, start p0: Int, total: Int, layer: Int,
                           cache: KVCache, scale: Float, into out: UnsafeMutablePointer<Float>) {
        let c = config
        let hd = c.headDim
        let qDim = c.numHeads * hd
        let group = c.numHeads / c.numKVHeads
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: n * total)
        defer { scores.deallocate() }
        for head in 0..<c.numHeads {
            let kvh = head / group
            let kc = cache.keys(layer: layer, head: kvh)
            let vc = cache.values(layer: layer, head: kvh)
            let qh = q + head * hd
            let oh = out + head * hd
            if n == 1 {
                BLAS.gemv(m: total, n: hd, a: kc, lda: hd, x: qh, y: scores, alpha: scale)
                Ops.softmaxInPlace(scores, count: total)
                BLAS.gemvT(m: total, n: hd, a: vc, lda: hd, x: scores, y: oh)
                continue
            }
            BLAS.gemmNT(m: n, n: total, k: hd, a: qh, lda: qDim, b: kc, ldb: hd, c: scores, ldc: total, alpha: scale)
            Parallel.forRanges(n, minChunk: 16) { r0, r1 in
                for i in r0..<r1 {
                    let row = scores + i * total
                    let valid = p0 + i + 1
                    Ops.softmaxInPlace(row, count: valid)
                    if valid < total { (row + valid).update(repeating: 0, count: total - valid) }
                }
            }
            BLAS.gemmNN(m: n, n: hd, k: total, a: scores, lda: total, b: vc, ldb: hd, c: oh, ldc: qDim)
        }
    }

    /// Logits `[vocab]` for one final hidden state.
    public func logits(_ hidden: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        lmHead.forward(hidden, rows: 1, into: out)
    }

    /// Logits for several rows `[rows, vocab]`.
    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        lmHead.forward(hidden, rows: rows, into: out)
    }
}

extension Qwen2Decoder {
    /// Bytes of weights read per decoded token: every layer's matrices plus the LM head.
    public var weightBytesPerToken: Int {
        var total = lmHead.weight.byteCount
        for l in layers {
            for lin in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { total += lin.weight.byteCount }
        }
        return total
    }

    /// The dtype holding most of the decoder's matrix bytes (what decode streams).
    public var mainWeightFormat: DType {
        var bytes: [DType: Int] = [:]
        for l in layers {
            for lin in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { bytes[lin.weight.dtype, default: 0] += lin.weight.byteCount }
        }
        return bytes.max { $0.value < $1.value }?.key ?? lmHead.weight.dtype
    }

    /// Parameters in the matrices a token passes through (2 FLOP each per token).
    public var matrixParameterCount: Int {
        var total = lmHead.weight.count
        for l in layers {
            for lin in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { total += lin.weight.count }
        }
        return total
    }
}
