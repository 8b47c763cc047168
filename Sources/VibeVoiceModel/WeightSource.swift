import VibeVoiceCompute

/// Where model parts fetch their weights by canonical (Hub file) name, with shape checks.
public protocol WeightSource: Sendable {
    func tensor(_ name: String, shape: [Int]) throws -> WeightTensor
    func has(_ name: String) -> Bool
    /// Drops the resident memory-mapped pages of the tensors whose canonical names start with `prefix` (they
    /// fault back in from the file when read again). Sources without a mapping do nothing.
    func releaseResidentPages(prefix: String)
}

extension WeightSource {
    public func releaseResidentPages(prefix: String) {}
}

extension Checkpoint: WeightSource {
    public func releaseResidentPages(prefix: String) {
        for name in tensorNames where name.hasPrefix(prefix) { releaseResidentPages(of: name) }
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
        return Linear(weight: w, bias: b)
    }
}
