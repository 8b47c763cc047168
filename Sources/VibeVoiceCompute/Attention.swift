import Foundation
import CKernels

/// Causal grouped-query attention over a key/value cache, tiled with an online softmax (`vv_attention_rows`):
/// scratch is bounded whatever the context, and the work stays at the causal count (each query row reads only the
/// key tiles up to its position). The query heads that share a key/value head go through one call together, a few
/// positions at a time, so each key/value tile is read once for all of them; the (group, positions) pieces are
/// shared out to the threads as they come free (later positions cost more).
public enum Attention {
    /// Element type of a cache's keys and values.
    public enum Element: Sendable {
        case f32, f16
    }

    /// Query rows per kernel call (heads of a group × positions): 168 for 7 heads a group (24 positions), so each
    /// key/value tile is packed once for many rows.
    static let rowsPerCall = 168

    /// `out[i, h·hd ..< (h+1)·hd]` for query rows `i < rows` at positions `start + i` and heads `h < heads`, from
    /// `q [rows, heads·hd]` (already rotated) and the cache of each key/value head (`keys(g)`, `values(g)`:
    /// `[positions][hd]`, positions `0 ..< start + rows` filled). Head `h` reads key/value head `h / (heads / kvHeads)`.
    public static func causal(q: UnsafePointer<Float>, rows: Int, start: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                              element: Element, keys: (Int) -> UnsafeRawPointer, values: (Int) -> UnsafeRawPointer,
                              scale: Float, into out: UnsafeMutablePointer<Float>, threads: Int = ComputeThreads.count) {
        guard rows > 0 else { return }
        let t0 = Date()
        defer { Timing.add(Date().timeIntervalSince(t0)) }
        precondition(heads % kvHeads == 0, "query heads must be a multiple of key/value heads")
        let group = heads / kvHeads
        let positionsPerCall = max(1, min(rows, rowsPerCall / group))
        let blocks = (rows + positionsPerCall - 1) / positionsPerCall
        let items = kvHeads * blocks
        let qStride = heads * hd
        let kp = (0..<kvHeads).map { keys($0) }, vp = (0..<kvHeads).map { values($0) }
        let f16: Int32 = element == .f16 ? 1 : 0
        let next = Counter()
        let workers = max(1, min(threads, items))
        let maxRows = group * positionsPerCall
        precondition(maxRows <= Int(VV_ATT_MAX_ROWS), "too many query heads per key/value head")
        let work = UncheckedSendable((q, out, kp, vp))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let (q, out, kp, vp) = work.value
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: vv_attention_scratch_floats(maxRows, hd))
            var qRows = [UnsafePointer<Float>?](repeating: nil, count: maxRows)
            var oRows = [UnsafeMutablePointer<Float>?](repeating: nil, count: maxRows)
            var pos = [Int](repeating: 0, count: maxRows)
            defer { scratch.deallocate() }
            while true {
                let item = next.take()
                guard item < items else { break }
                // Latest positions first: the costliest pieces start early and the tail is short.
                let g = item % kvHeads, b = blocks - 1 - item / kvHeads
                let i0 = b * positionsPerCall, i1 = min(rows, i0 + positionsPerCall)
                var r = 0
                for i in i0..<i1 {
                    for h in (g * group)..<((g + 1) * group) {
                        qRows[r] = q + i * qStride + h * hd
                        oRows[r] = out + i * qStride + h * hd
                        pos[r] = start + i
                        r += 1
                    }
                }
                vv_attention_rows(qRows, pos, r, kp[g], vp[g], f16, hd, scale, oRows, scratch)
            }
        }
    }

    /// Seconds spent in `causal` since the last `Timing.reset()` (all calls, all threads' wall time once).
    public enum Timing {
        private static let lock = NSLock()
        nonisolated(unsafe) private static var total = 0.0
        public static func reset() { lock.lock(); total = 0; lock.unlock() }
        public static var seconds: Double { lock.lock(); defer { lock.unlock() }; return total }
        static func add(_ s: Double) { lock.lock(); total += s; lock.unlock() }
    }

    /// Hands out work items to the threads in order.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func take() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value - 1
        }
    }
}
