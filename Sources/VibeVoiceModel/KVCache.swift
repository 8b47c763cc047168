import VibeVoiceCompute

/// Keys and values of every decoder layer, f32, laid out `[layer][kvHead][position][headDim]` so
/// each head's keys form one contiguous matrix for BLAS. It starts at the prompt plus a first
/// stretch of generation and doubles when full, so a large token budget costs memory only when used.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public private(set) var capacity: Int
    /// Positions filled so far.
    public internal(set) var length = 0
    private var keys: UnsafeMutablePointer<Float>
    private var values: UnsafeMutablePointer<Float>

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

    /// Grows the cache (keeping its contents) so that it holds at least `needed` positions.
    public func ensureCapacity(_ needed: Int) {
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2)
        let n = layers * kvHeads * newCapacity * headDim
        let newKeys = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let newValues = UnsafeMutablePointer<Float>.allocate(capacity: n)
        for slab in 0..<(layers * kvHeads) {
            (newKeys + slab * newCapacity * headDim).update(from: keys + slab * capacity * headDim, count: length * headDim)
            (newValues + slab * newCapacity * headDim).update(from: values + slab * capacity * headDim, count: length * headDim)
        }
        keys.deallocate()
        values.deallocate()
        keys = newKeys
        values = newValues
        capacity = newCapacity
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
