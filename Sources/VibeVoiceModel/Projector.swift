import VibeVoiceCompute

/// Maps encoder latents into the decoder's embedding space (SPEC.md section 4):
/// `L2a(RMSNorm(L1a(acoustic))) + L2s(RMSNorm(L1s(semantic)))`.
public struct AudioProjector: Sendable {
    let acoustic1, acoustic2, semantic1, semantic2: Linear
    let acousticNorm, semanticNorm: [Float]
    public let hiddenSize: Int
    static let eps: Float = 1e-6

    public init(weights: WeightSource, acousticDim: Int, semanticDim: Int, hiddenSize: Int) throws {
        self.hiddenSize = hiddenSize
        let p = "multi_modal_projector."
        acoustic1 = try weights.linear(p + "acoustic_linear_1", out: hiddenSize, in: acousticDim, bias: true)
        acoustic2 = try weights.linear(p + "acoustic_linear_2", out: hiddenSize, in: hiddenSize, bias: true)
        semantic1 = try weights.linear(p + "semantic_linear_1", out: hiddenSize, in: semanticDim, bias: true)
        semantic2 = try weights.linear(p + "semantic_linear_2", out: hiddenSize, in: hiddenSize, bias: true)
        acousticNorm = try weights.floats(p + "acoustic_norm.weight", shape: [hiddenSize])
        semanticNorm = try weights.floats(p + "semantic_norm.weight", shape: [hiddenSize])
    }

    /// `[frames, hiddenSize]` audio embeddings.
    public func forward(acoustic: [Float], semantic: [Float], frames: Int) -> [Float] {
        var a = acoustic1.forward(acoustic, rows: frames)
        Ops.rmsNorm(&a, rows: frames, dim: hiddenSize, weight: acousticNorm, eps: Self.eps)
        var out = acoustic2.forward(a, rows: frames)
        var s = semantic1.forward(semantic, rows: frames)
        Ops.rmsNorm(&s, rows: frames, dim: hiddenSize, weight: semanticNorm, eps: Self.eps)
        let s2 = semantic2.forward(s, rows: frames)
        for i in 0..<out.count { out[i] += s2[i] }
        return out
    }
}
