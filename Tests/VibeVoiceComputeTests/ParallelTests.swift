import XCTest
@testable import VibeVoiceCompute

/// The balanced row split of the decode mat-vecs: every index exactly once, chunks of whole groups of 4 (the
/// kernels' fast path) except the last, whatever the chunk count.
final class ParallelTests: XCTestCase {
    override func tearDown() {
        Parallel.balancedChunksPerThread = 4
        super.tearDown()
    }

    func testBalancedRangesCoverEveryIndexOnceInGroupsOfFour() {
        for chunksPerThread in [1, 2, 4, 16] {
            Parallel.balancedChunksPerThread = chunksPerThread
            for (count, minChunk) in [(1, 64), (63, 64), (512, 64), (515, 64), (3584, 64), (18_944, 64), (1000, 1)] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                hits.initialize(repeating: 0, count: count)
                defer { hits.deallocate() }
                let lock = NSLock()
                var ranges: [(Int, Int)] = []
                let shared = UncheckedSendable(hits)
                Parallel.forBalancedRanges(count, minChunk: minChunk) { b, e in
                    for i in b..<e { shared.value[i] += 1 }
                    lock.lock(); ranges.append((b, e)); lock.unlock()
                }
                XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count) chunks/thread \(chunksPerThread)")
                for (b, e) in ranges where e != count {
                    XCTAssertEqual(b % 4, 0, "count \(count)")
                    XCTAssertEqual(e % 4, 0, "count \(count)")
                }
                if ComputeThreads.count > 1 && count >= 2 * chunksPerThread * max(minChunk, 4) * ComputeThreads.count {
                    XCTAssertEqual(ranges.count, chunksPerThread * ComputeThreads.count, "count \(count)")
                }
            }
        }
    }
}
