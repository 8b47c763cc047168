import Foundation

/// Byte-level BPE over token ids: a piece's bytes start as one symbol each, and adjacent pairs are merged
/// lowest merge rank first (leftmost on ties), as Hugging Face tokenizers does.
struct BytePairModel: Sendable {
    /// Token id of each single byte, or -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id).
    let merges: PairTable
    /// Whole pieces found in the vocabulary skip merging (`ignore_merges`).
    let ignoreMerges: Bool
    let vocab: TokenTable
    let unknownID: Int32?
    private let cache = PieceCache()

    init(byteIDs: [Int32], merges: PairTable, ignoreMerges: Bool, vocab: TokenTable, unknownID: Int32?) {
        self.byteIDs = byteIDs
        self.merges = merges
        self.ignoreMerges = ignoreMerges
        self.vocab = vocab
        self.unknownID = unknownID
    }

    /// Appends the ids of one piece (its UTF-8 bytes).
    func encode(piece: ArraySlice<UInt8>, into ids: inout [Int]) {
        if piece.isEmpty { return }
        if piece.count == 1 {
            let id = byteIDs[Int(piece[piece.startIndex])]
            if id >= 0 { ids.append(Int(id)) } else if let unk = unknownID { ids.append(Int(unk)) }
            return
        }
        if ignoreMerges, let whole = vocab.find(piece) {
            ids.append(Int(whole))
            return
        }
        let cacheable = piece.count <= PieceCache.maxKeyLength
        var hash: UInt64 = 0
        if cacheable {
            hash = piece.withUnsafeBufferPointer { TokenTable.hash($0) }
            if cache.get(piece, hash: hash, into: &ids) { return }
        }
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
        if cacheable { cache.put(piece, hash: hash, merged) }
        for id in merged { ids.append(Int(id)) }
    }

    @inline(__always)
    private func lookup(_ a: Int32, _ b: Int32) -> UInt64? {
        merges.get(UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)))
    }

    /// Scan for the lowest-ranked pair, re-looking up only the pairs next to each merge; fastest for the
    /// short pieces that make up almost all text.
    func mergeSmall(_ input: [Int32]) -> [Int32] {
        var symbols = input
        if symbols.count < 2 { return symbols }
        // merge value (rank << 32 | merged id) of pair k, or .max when the pair does not merge.
        var pairs = [UInt64](repeating: .max, count: symbols.count - 1)
        for k in 0..<pairs.count { pairs[k] = lookup(symbols[k], symbols[k + 1]) ?? .max }
        while !pairs.isEmpty {
            var best = UInt64.max
            var pos = -1
            for k in 0..<pairs.count where pairs[k] < best {
                best = pairs[k]
                pos = k
            }
            if pos < 0 { break }
            symbols[pos] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: pos + 1)
            pairs.remove(at: pos)
            if pos < pairs.count { pairs[pos] = lookup(symbols[pos], symbols[pos + 1]) ?? .max }
            if pos > 0 { pairs[pos - 1] = lookup(symbols[pos - 1], symbols[pos]) ?? .max }
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

/// Thread-safe, direct-mapped cache of piece bytes -> ids (a fixed number of slots, so memory stays bounded
/// however much text passes through).
final class PieceCache: @unchecked Sendable {
    static let maxKeyLength = 48
    private struct Entry {
        var hash: UInt64 = 0
        var key: [UInt8] = []
        var ids: [Int32] = []
    }
    private let lock = NSLock()
    private var slots = [Entry](repeating: Entry(), count: 1 << 15)

    func get(_ key: ArraySlice<UInt8>, hash: UInt64, into ids: inout [Int]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let slot = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        guard slots[slot].hash == hash, slots[slot].key.elementsEqual(key) else { return false }
        for id in slots[slot].ids { ids.append(Int(id)) }
        return true
    }

    func put(_ key: ArraySlice<UInt8>, hash: UInt64, _ value: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        let slot = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        slots[slot] = Entry(hash: hash, key: Array(key), ids: value)
    }
}
