import VibeVoiceCompute

/// Where model parts fetch their weights by canonical (Hub file) name, with shape checks.
public protocol WeightSource: Sendable {
    func tensor(_ name: String, shape: [Int]) throws -> WeightTensor
    func has(_ name: String) -> Bool
    /// Drops the resident memory-mapped pages of the tensors whose canonical names start with `prefix` (they
    /// fault back in from the file when read again). Sources without a mapping do nothing.
    func releaseResidentPages(prefix: String)
    /// Drops the resident memory-mapped pages of tensor `name` (and of its scales, for a block format), named as
    /// in `tensor(_:shape:)`. Sources without a mapping do nothing.
    func releaseResidentPages(ofTensor name: String)
}

extension WeightSource {
    public func releaseResidentPages(prefix: String) {}
    public func releaseResidentPages(ofTensor name: String) {}
}

extension Checkpoint: WeightSource {
    public func releaseResidentPages(prefix: String) {
        for name in tensorNames where name.hasPrefix(prefix) { releaseResidentPages(of: name) }
    }

    public func releaseResidentPages(ofTensor name: String) {
        releaseResidentPages(of: name)
        releaseResidentPagesOfScales(of: name)
    }
}

extension WeightSource {
    /// A small tensor widened to f32 (biases, norms, layer scales, depthwise kernels).
    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        try tensor(name, shape: shape).toFloatArray()
    }

    func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool) throws -> Linear {
        let w = try tensor(prefix + ".weight", shape: [out, inFeatures])
        let b = bias ? try floats(prefix + ".bias", shape: [out]) : nil
        let linear = Linear(weight: w, bias: b)
        // A copy in another layout (Q4_0's interleaved decode layout): the stored pages are not needed now.
        if linear.weight.data != w.data { releaseResidentPages(ofTensor: prefix + ".weight") }
        return linear
    }
}
