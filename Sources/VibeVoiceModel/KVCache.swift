import VibeVoiceCompute

/// Keys and values of every decoder layer, f32, laid out `[layer][kvHead][position][headDim]` so
/// each head's keys form one contiguous matrix for BLAS. Allocated once for the whole request.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public let capacity: Int
    /// Positions filled so far.
    public internal(set) var length = 0
    private let keys: UnsafeMutablePointer<Float>
    private let values: UnsafeMutablePointer<Float>

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        let n = layers * kvHeads * capacity * headDim
        keys = .allocate(capacity: max(1, n))
        values = .allocate(capacity: max(1, n))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes held by the cache.
    public var byteCount: Int { 2 * layers * kvHeads * capacity * headDim * 4 }

    @inline(__always)
    func keys(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        keys + ((layer * kvHeads + head) * capacity) * headDim
    }

    @inline(__always)
    func values(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        values + ((layer * kvHeads + head) * capacity) * headDim
    }
}
