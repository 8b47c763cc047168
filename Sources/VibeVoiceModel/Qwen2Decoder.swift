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
    /// Element format of the caches `makeCache` makes (f32 unless asked: exact).
    public let kvCacheFormat: KVCache.Format

    public init(weights: WeightSource, config c: DecoderConfig, kvCacheFormat: KVCache.Format = .f32) throws {
        config = c
        self.kvCacheFormat = kvCacheFormat
        embedTokens = try weights.tensor("language_model.model.embed_tokens.weight", shape: [c.vocabSize, c.hiddenSize])
        // The LM head before the layers: the largest matrix (0.55 GB at q8_0), whose stored (or just quantised)
        // copy and decode-layout copy are both resident for a moment, does that while little else is.
        if c.tieWordEmbeddings && !weights.has("language_model.lm_head.weight") {
            lmHead = Linear(weight: embedTokens, bias: nil, decodeLayout: weights.buildsDecodeLayouts)
        } else {
            lmHead = try weights.linear("language_model.lm_head", out: c.vocabSize, in: c.hiddenSize, bias: false)
        }
        layers = try (0..<c.numLayers).map {
            try Qwen2Layer(weights: weights, prefix: "language_model.model.layers.\($0)", config: c)
        }
        finalNorm = try weights.floats("language_model.model.norm.weight", shape: [c.hiddenSize])
        rope = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.numLayers, kvHeads: config.numKVHeads, headDim: config.headDim, capacity: capacity,
                format: kvCacheFormat)
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
            cache.store(layer: li, start: p0, rows: n, keys: k, values: v)
            cache.attention(layer: li, queries: q, rows: n, start: p0, heads: c.numHeads, scale: scale, into: attn)
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
