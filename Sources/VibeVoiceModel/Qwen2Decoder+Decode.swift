import Foundation
import VibeVoiceCompute

/// Decode steps: a few new rows, possibly of several sequences (batched decoding, speculative verification).
///
/// Every row is computed exactly as a one-row step of its own sequence would compute it: the linear layers go
/// through the mat-vec kernels (each weight row streamed once for all rows, each row's result bit-identical to
/// a one-row mat-vec), norms and RoPE are per row, and attention is one query at a time against the row's own
/// cache up to its own position. So decoding k rows at once, or alongside other sequences, never changes a bit
/// of any logit, and greedy output is identical however rows are grouped.
extension Qwen2Decoder {
    /// Runs `counts[s]` new rows of sequence `s` (stacked in `x` in sequence order, `[Σ counts, hidden]`,
    /// overwritten with the final normed hidden states) and appends their keys and values to `caches[s]`.
    public func decodeForward(_ x: UnsafeMutablePointer<Float>, counts: [Int], caches: [KVCache]) {
        precondition(counts.count == caches.count, "one cache per sequence")
        let c = config
        let hd = c.headDim
        let qDim = c.numHeads * hd
        let kvDim = c.numKVHeads * hd
        let n = counts.reduce(0, +)
        guard n > 0 else { return }
        // Row r belongs to sequence seq[r] at position pos[r].
        var seq = [Int](), pos = [Int]()
        for (s, count) in counts.enumerated() {
            let p0 = caches[s].length
            caches[s].ensureCapacity(p0 + count)
            for i in 0..<count { seq.append(s); pos.append(p0 + i) }
        }
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
        for r in 0..<n { rope.angles(position: pos[r], cos: cosT + r * hd / 2, sin: sinT + r * hd / 2) }
        let scale = 1 / Float(hd).squareRoot()

        for (li, layer) in layers.enumerated() {
            layer.inputNorm.withUnsafeBufferPointer { w in
                Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: h)
            }
            layer.q.forwardRows(h, rows: n, into: q)
            layer.k.forwardRows(h, rows: n, into: k)
            layer.v.forwardRows(h, rows: n, into: v)
            for r in 0..<n {
                let cs = cosT + r * hd / 2, sn = sinT + r * hd / 2
                for head in 0..<c.numHeads { rope.apply(q + r * qDim + head * hd, cos: cs, sin: sn) }
                for head in 0..<c.numKVHeads { rope.apply(k + r * kvDim + head * hd, cos: cs, sin: sn) }
                caches[seq[r]].store(layer: li, start: pos[r], rows: 1, keys: k + r * kvDim, values: v + r * kvDim)
            }
            // One query at a time over its own sequence's keys 0...pos: what a one-row step computes.
            for r in 0..<n {
                caches[seq[r]].attention(layer: li, queries: q + r * qDim, rows: 1, start: pos[r], heads: c.numHeads,
                                         scale: scale, into: attn + r * qDim)
            }
            layer.o.forwardRows(attn, rows: n, into: h)
            for i in 0..<(n * c.hiddenSize) { x[i] += h[i] }

            layer.postAttentionNorm.withUnsafeBufferPointer { w in
                Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: h)
            }
            layer.gate.forwardRows(h, rows: n, into: gate)
            layer.up.forwardRows(h, rows: n, into: up)
            // Element-wise: the same per element however the range is split across threads.
            let count = n * c.intermediateSize
            Parallel.forRanges(count, minChunk: 4096) { b, e in
                for i in b..<e { gate[i] = Ops.silu(gate[i]) * up[i] }
            }
            layer.down.forwardRows(gate, rows: n, into: h)
            for i in 0..<(n * c.hiddenSize) { x[i] += h[i] }
        }
        for (s, count) in counts.enumerated() { caches[s].length += count }
        finalNorm.withUnsafeBufferPointer { w in
            Ops.rmsNorm(x, rows: n, dim: c.hiddenSize, weight: w.baseAddress!, eps: c.rmsNormEps, into: x)
        }
    }

    /// Logits `[rows, vocab]` of decode rows, through the mat-vec kernels (bit-identical to one row at a time).
    public func decodeLogits(_ hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        lmHead.forwardRows(hidden, rows: rows, into: out)
    }
}
