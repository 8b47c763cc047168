import Foundation

/// Byte-level BPE over token ids: a piece's bytes start as one symbol each, and adjacent pairs are merged
/// lowest merge rank first (leftmost on ties), as Hugging Face tokenizers does.
struct BytePairModel: Sendable {
    /// Token id of each single byte's vocabulary string, or -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    /// Whole pieces found in the vocabulary skip merging (`ignore_merges`).
    let ignoreMerges: Bool
    /// Vocabulary lookup by byte string, used with `ignoreMerges`.
    let vocabByBytes: [[UInt8]: Int32]
    let unknownID: Int32?
    private let cache = PieceCache()

    init(byteIDs: [Int32], merges: [UInt64: UInt64], ignoreMerges: Bool, vocabByBytes: [[UInt8]: Int32],
         unknownID: Int32?) {
        self.byteIDs = byteIDs
        self.merges = merges
        self.ignoreMerges = ignoreMerges
        self.vocabByBytes = vocabByBytes
        self.unknownID = unknownID
    }

    /// Appends the ids of one piece (its UTF-8 bytes).
    func encode(piece: ArraySlice<UInt8>, into ids: inout [Int]) {
        if piece.isEmpty { return }
        let cacheable = piece.count <= 64
        if cacheable, let hit = cache.get(piece) {
            ids.append(contentsOf: hit)
            return
        }
        var out: [Int] = []
        if ignoreMerges, let whole = vocabByBytes[Array(piece)] {
            out = [Int(whole)]
        } else {
            var symbols: [Int32] = []
            symbols.reserveCapacity(piece.count)
            for b in piece {
                let id = byteIDs[Int(b)]
                if id >= 0 {
                    symbols.append(id)
                } else if let unk = unknownID {
                    symbols.append(unk)
                }
            }
            let merged = symbols.count <= 48 ? mergeSmall(symbols) : mergeLarge(symbols)
            out = merged.map { Int($0) }
        }
        if cacheable { cache.put(piece, out) }
        ids.append(contentsOf: out)
    }

    @inline(__always)
    private func lookup(_ a: Int32, _ b: Int32) -> UInt64? {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
    }

    /// Quadratic scan; fastest for the short pieces that make up almost all text.
    func mergeSmall(_ input: [Int32]) -> [Int32] {
        var symbols = input
        while symbols.count > 1 {
            var bestRank = UInt64.max
            var bestPos = -1
            var bestID: Int32 = 0
            for k in 0..<(symbols.count - 1) {
                if let m = lookup(symbols[k], symbols[k + 1]) {
                    let rank = m >> 32
                    if rank < bestRank {
                        bestRank = rank
                        bestPos = k
                        bestID = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
                    }
                }
            }
            if bestPos < 0 { break }
            symbols[bestPos] = bestID
            symbols.remove(at: bestPos + 1)
        }
        return symbols
    }

    /// Heap of candidate merges over a linked list of symbols: O(n log n) for long pieces
    /// (a run of 5000 letters is a single piece).
    func mergeLarge(_ input: [Int32]) -> [Int32] {
        let n = input.count
        var ids = input
        var prev = [Int](0..<n).map { $0 - 1 }
        var next = [Int](0..<n).map { $0 + 1 == n ? -1 : $0 + 1 }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for k in 0..<(n - 1) {
            if let m = lookup(ids[k], ids[k + 1]) {
                heap.push(.init(rank: UInt32(m >> 32), pos: Int32(k), left: ids[k], right: ids[k + 1]))
            }
        }
        while let top = heap.pop() {
            let p = Int(top.pos)
            guard alive[p], ids[p] == top.left else { continue }
            let q = next[p]
            guard q >= 0, ids[q] == top.right, let m = lookup(top.left, top.right) else { continue }
            // Merge q into p.
            ids[p] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[q] = false
            let r = next[q]
            next[p] = r
            if r >= 0 { prev[r] = p }
            if prev[p] >= 0 {
                let l = prev[p]
                if let m2 = lookup(ids[l], ids[p]) {
                    heap.push(.init(rank: UInt32(m2 >> 32), pos: Int32(l), left: ids[l], right: ids[p]))
                }
            }
            if r >= 0, let m2 = lookup(ids[p], ids[r]) {
                heap.push(.init(rank: UInt32(m2 >> 32), pos: Int32(p), left: ids[p], right: ids[r]))
            }
        }
        var out: [Int32] = []
        var k = 0
        while k >= 0 && k < n {
            out.append(ids[k])
            k = next[k]
        }
        return out
    }
}

/// Binary min-heap of merge candidates ordered by (rank, position).
private struct MergeHeap {
    struct Entry {
        var rank: UInt32
        var pos: Int32
        var left: Int32
        var right: Int32
        @inline(__always) func less(_ o: Entry) -> Bool { rank != o.rank ? rank < o.rank : pos < o.pos }
    }
    private var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[c].less(items[p]) { items.swapAt(c, p); c = p } else { break }
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count, items[l].less(items[m]) { m = l }
                if r < items.count, items[r].less(items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return first
    }
}

/// Thread-safe cache of piece bytes -> ids, bounded so long-running processes do not grow without limit.
final class PieceCache: @unchecked Sendable {
    private let lock = NSLock()
    private var table: [ArraySlice<UInt8>: [Int]] = [:]
    private let capacity = 200_000

    func get(_ key: ArraySlice<UInt8>) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return table[key]
    }

    func put(_ key: ArraySlice<UInt8>, _ value: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if table.count >= capacity { table.removeAll(keepingCapacity: true) }
        table[ArraySlice(Array(key))] = value
    }
}
