import CKernels
import Dispatch
import Foundation

/// Thread settings for the hand-written kernels (BLAS keeps its own pool, set alongside).
public enum ComputeThreads {
    nonisolated(unsafe) private static var _count = ProcessInfo.processInfo.activeProcessorCount

    /// Number of threads the kernels split work across.
    public static var count: Int { _count }

    /// Sets the thread count for the kernels and for BLAS.
    public static func set(_ n: Int) {
        _count = max(1, n)
        BLAS.setThreadCount(_count)
    }
}

public enum Parallel {
    /// Splits `0..<count` into contiguous ranges, one per thread (at least `minChunk` items each),
    /// and runs `body(begin, end)` on each concurrently.
    @inline(__always)
    public static func forRanges(_ count: Int, minChunk: Int = 1,
                                 _ body: (_ begin: Int, _ end: Int) -> Void) {
        forRanges(count, threads: ComputeThreads.count, minChunk: minChunk, body)
    }

    /// The same on at most `threads` threads (for work that runs beside other work, such as the two speech
    /// encoders side by side, each with its share of the cores).
    @inline(__always)
    public static func forRanges(_ count: Int, threads maxThreads: Int, minChunk: Int = 1,
                                 _ body: (_ begin: Int, _ end: Int) -> Void) {
        guard count > 0 else { return }
        let threads = max(1, min(maxThreads, count / max(1, minChunk)))
        if threads == 1 {
            body(0, count)
            return
        }
        // Round chunks to a multiple of 4 rows so the 4-row kernels stay on their fast path.
        let chunk = (((count + threads - 1) / threads) + 3) & ~3
        withoutActuallyEscaping(body) { body in
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let b = t * chunk
                let e = min(count, b + chunk)
                if b < e { task.value(b, e) }
            }
        }
    }
}

extension Parallel {
    /// Chunks per thread of `forBalancedRanges` (1: one contiguous range per thread, as `forRanges`).
    nonisolated(unsafe) public static var balancedChunksPerThread = 4

    /// Splits `0..<count` into about `balancedChunksPerThread` contiguous chunks per thread (multiples of 4 items,
    /// at least `minChunk` each) that the threads take as they come free, so a thread slowed by other work on the
    /// machine takes fewer: for the decode mat-vecs, whose rows cost the same but whose threads need not.
    @inline(__always)
    public static func forBalancedRanges(_ count: Int, minChunk: Int = 1, _ body: (_ begin: Int, _ end: Int) -> Void) {
        guard count > 0 else { return }
        let threads = max(1, min(ComputeThreads.count, count / max(1, minChunk)))
        let chunks = min(threads * max(1, balancedChunksPerThread), max(1, count / max(1, minChunk)))
        if threads == 1 || chunks <= threads {
            forRanges(count, threads: threads, minChunk: minChunk, body)
            return
        }
        let chunk = (((count + chunks - 1) / chunks) + 3) & ~3
        let n = (count + chunk - 1) / chunk
        let next = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        next.initialize(to: 0)
        defer { next.deallocate() }
        withoutActuallyEscaping(body) { body in
            let task = UncheckedSendable((body, next))
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while true {
                    let i = vv_atomic_fetch_add(task.value.1, 1)
                    if i >= n { break }
                    task.value.0(i * chunk, min(count, (i + 1) * chunk))
                }
            }
        }
    }
}

/// Wraps a value that is shared across the threads of one parallel loop. The loops write
/// disjoint ranges, which the type system cannot see.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

extension Parallel {
    /// Runs two independent jobs at once (or one after the other when `concurrently` is false).
    public static func both(concurrently: Bool = true, _ first: () -> Void, _ second: () -> Void) {
        guard concurrently else {
            first()
            second()
            return
        }
        withoutActuallyEscaping(first) { first in
            withoutActuallyEscaping(second) { second in
                let jobs = UncheckedSendable((first, second))
                DispatchQueue.concurrentPerform(iterations: 2) { i in
                    if i == 0 { jobs.value.0() } else { jobs.value.1() }
                }
            }
        }
    }
}
