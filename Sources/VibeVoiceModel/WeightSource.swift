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
    /// False for a view that only checks a checkpoint (names, shapes, dtypes): layers built on it keep their
    /// weights as stored instead of making their in-memory decode layouts (copies).
    var buildsDecodeLayouts: Bool { get }
}

extension WeightSource {
    public func releaseResidentPages(prefix: String) {}
    public func releaseResidentPages(ofTensor name: String) {}
    public var buildsDecodeLayouts: Bool { true }
}

extension Checkpoint: WeightSource {
    /// A view that returns the stored tensors with every check the loader makes, without building decode layouts
    /// (building a model part on it checks a checkpoint at the cost of reading headers and small tensors only).
    public var checkingOnly: WeightSource { StoredCheckingSource(checkpoint: self) }

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
        let linear = Linear(weight: w, bias: b, decodeLayout: buildsDecodeLayouts)
        // A copy in another layout (the interleaved decode layout of Q8_0 and Q4_0): the stored pages are not needed now.
        if linear.weight.data != w.data { releaseResidentPages(ofTensor: prefix + ".weight") }
        return linear
    }
}

private struct StoredCheckingSource: WeightSource {
    let checkpoint: Checkpoint
    func has(_ name: String) -> Bool { checkpoint.has(name) }
    func tensor(_ name: String, shape: [Int]) throws -> WeightTensor { try checkpoint.tensor(name, shape: shape) }
    var buildsDecodeLayouts: Bool { false }
}
