import VibeVoiceCompute
import CKernels

/// Keys and values of every decoder layer, laid out `[layer][kvHead][position][headDim]` so each head's keys form
/// one contiguous matrix. It starts at the prompt plus a first stretch of generation and doubles when full, so a
/// large token budget costs memory only when used.
///
/// Elements are f32 by default (exact: the reference keeps them in the compute dtype). `f16` halves the cache
/// (about 57 KB instead of 115 KB per position for the released model, 1.55 instead of 3.1 GB for an hour of
/// audio); keys and values are rounded to f16 as they are stored, and attention reads them back widened.
public final class KVCache: @unchecked Sendable {
    /// Element format of the stored keys and values.
    public enum Format: String, Sendable, CaseIterable {
        case f32, f16

        var bytes: Int { self == .f32 ? 4 : 2 }
    }

    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public let format: Format
    public private(set) var capacity: Int
    /// Positions filled so far.
    public internal(set) var length = 0
    private var keys: UnsafeMutableRawPointer
    private var values: UnsafeMutableRawPointer

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, format: Format = .f32) {
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        self.format = format
        let bytes = max(1, layers * kvHeads * capacity * headDim * format.bytes)
        keys = .allocate(byteCount: bytes, alignment: 64)
        values = .allocate(byteCount: bytes, alignment: 64)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Grows the cache (keeping its contents) so that it holds at least `needed` positions.
    public func ensureCapacity(_ needed: Int) {
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2)
        let e = format.bytes
        let bytes = layers * kvHeads * newCapacity * headDim * e
        let newKeys = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let newValues = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        for slab in 0..<(layers * kvHeads) {
            let from = slab * capacity * headDim * e, to = slab * newCapacity * headDim * e
            (newKeys + to).copyMemory(from: keys + from, byteCount: length * headDim * e)
            (newValues + to).copyMemory(from: values + from, byteCount: length * headDim * e)
        }
        keys.deallocate()
        values.deallocate()
        keys = newKeys
        values = newValues
        capacity = newCapacity
    }

    /// Bytes held by the cache.
    public var byteCount: Int { 2 * layers * kvHeads * capacity * headDim * format.bytes }

    @inline(__always)
    private func offset(layer: Int, head: Int, position: Int = 0) -> Int {
        (((layer * kvHeads + head) * capacity) + position) * headDim * format.bytes
    }

    /// Keys of one head, `[position][headDim]` in the cache's format.
    func keys(layer: Int, head: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + offset(layer: layer, head: head)) }

    func values(layer: Int, head: Int) -> UnsafeRawPointer { UnsafeRawPointer(values + offset(layer: layer, head: head)) }

    /// Writes the keys and values of `rows` new positions `start ..< start + rows` of `layer` (`k`, `v`:
    /// `[rows, kvHeads·headDim]`, f32), rounding them to f16 for an f16 cache.
    func store(layer: Int, start: Int, rows: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        precondition(start + rows <= capacity, "cache too small")
        let hd = headDim, kvDim = kvHeads * headDim
        for head in 0..<kvHeads {
            for i in 0..<rows {
                let src = i * kvDim + head * hd, at = offset(layer: layer, head: head, position: start + i)
                switch format {
                case .f32:
                    (keys + at).assumingMemoryBound(to: Float.self).update(from: k + src, count: hd)
                    (values + at).assumingMemoryBound(to: Float.self).update(from: v + src, count: hd)
                case .f16:
                    vv_narrow_f16(k + src, (keys + at).assumingMemoryBound(to: UInt16.self), hd)
                    vv_narrow_f16(v + src, (values + at).assumingMemoryBound(to: UInt16.self), hd)
                }
            }
        }
    }

    /// Causal attention of `rows` query positions `start ..< start + rows` (`q [rows, heads·headDim]`, rotated) over
    /// positions `0 ..< start + rows` of `layer` (stored first), into `out [rows, heads·headDim]`.
    func attention(layer: Int, queries q: UnsafePointer<Float>, rows: Int, start: Int, heads: Int, scale: Float,
                   into out: UnsafeMutablePointer<Float>) {
        Attention.causal(q: q, rows: rows, start: start, heads: heads, kvHeads: kvHeads, headDim: headDim,
                         element: format == .f32 ? .f32 : .f16,
                         keys: { self.keys(layer: layer, head: $0) }, values: { self.values(layer: layer, head: $0) },
                         scale: scale, into: out)
    }
}
