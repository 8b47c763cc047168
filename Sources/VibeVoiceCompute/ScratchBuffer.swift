/// A growable f32 buffer reused across calls, so hot loops allocate only when a larger size is first needed.
/// Not thread-safe: one owner at a time (each thread or each encoder keeps its own).
public final class ScratchBuffer: @unchecked Sendable {
    public private(set) var capacity = 0
    private var storage: UnsafeMutablePointer<Float>?

    public init(capacity: Int = 0) {
        if capacity > 0 { _ = pointer(capacity) }
    }

    deinit { storage?.deallocate() }

    /// At least `count` floats (contents are not kept when it grows; 64-byte aligned).
    public func pointer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity || storage == nil {
            storage?.deallocate()
            let n = max(count, 16)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
            storage = raw.bindMemory(to: Float.self, capacity: n)
            capacity = n
        }
        return storage!
    }

    /// Frees the memory (the next `pointer` call allocates again).
    public func release() {
        storage?.deallocate()
        storage = nil
        capacity = 0
    }
}
