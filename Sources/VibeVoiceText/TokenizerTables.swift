/// Vocabulary lookup by a token's bytes: open addressing over the flat per-id byte storage, FNV-1a hashing.
/// (Swift's String hashing normalises Unicode on every lookup, which dominated loading time.)
struct TokenTable: Sendable {
    /// Bytes of id i: bytes[offsets[i]..<offsets[i+1]].
    let bytes: [UInt8]
    let offsets: [Int32]
    private let slots: [Int32]
    private let mask: Int

    init(bytes: [UInt8], offsets: [Int32]) {
        self.bytes = bytes
        self.offsets = offsets
        let count = max(offsets.count - 1, 0)
        var capacity = 16
        while capacity < count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { all in
            for id in 0..<count {
                let lo = Int(offsets[id]), hi = Int(offsets[id + 1])
                if lo == hi { continue }
                let key = UnsafeBufferPointer(rebasing: all[lo..<hi])
                var s = Int(truncatingIfNeeded: TokenTable.hash(key)) & mask
                while slots[s] >= 0 {
                    if TokenTable.equal(all, slots[s], offsets, key) { break }  // keep the first id
                    s = (s + 1) & mask
                }
                if slots[s] < 0 { slots[s] = Int32(id) }
            }
        }
        self.slots = slots
        self.mask = mask
    }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 29)
    }

    @inline(__always)
    private static func equal(_ all: UnsafeBufferPointer<UInt8>, _ id: Int32, _ offsets: [Int32],
                              _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let lo = Int(offsets[Int(id)]), hi = Int(offsets[Int(id) + 1])
        guard hi - lo == key.count else { return false }
        var k = 0
        while k < key.count {
            if all[lo + k] != key[k] { return false }
            k += 1
        }
        return true
    }

    /// The id whose bytes are `key`.
    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        if key.isEmpty { return nil }
        return bytes.withUnsafeBufferPointer { all in
            var s = Int(truncatingIfNeeded: TokenTable.hash(key)) & mask
            while true {
                let id = slots[s]
                if id < 0 { return nil }
                if TokenTable.equal(all, id, offsets, key) { return id }
                s = (s + 1) & mask
            }
        }
    }

    func find(_ key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { find($0) }
    }

    func find(_ key: ArraySlice<UInt8>) -> Int32? {
        key.withUnsafeBufferPointer { find($0) }
    }
}

/// UInt64 -> UInt64 map for merge pairs (open addressing, multiplicative hashing).
struct PairTable: Sendable {
    private static let empty = UInt64.max
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private var shift: UInt64
    private(set) var count = 0

    init(minimumCapacity: Int) {
        var capacity = 16
        var bits: UInt64 = 4
        while capacity < minimumCapacity * 2 { capacity <<= 1; bits += 1 }
        keys = [UInt64](repeating: PairTable.empty, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
        shift = 64 - bits
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Inserts unless the key is present (the first insertion wins).
    mutating func insertIfAbsent(_ key: UInt64, _ value: UInt64) {
        precondition(key != PairTable.empty)
        if (count + 1) * 2 > keys.count { grow() }
        var s = slot(key)
        while keys[s] != PairTable.empty {
            if keys[s] == key { return }
            s = (s + 1) & mask
        }
        keys[s] = key
        values[s] = value
        count += 1
    }

    @inline(__always) func get(_ key: UInt64) -> UInt64? {
        var s = slot(key)
        while true {
            let k = keys[s]
            if k == key { return values[s] }
            if k == PairTable.empty { return nil }
            s = (s + 1) & mask
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        self = PairTable(minimumCapacity: oldKeys.count)
        for (k, v) in zip(oldKeys, oldValues) where k != PairTable.empty { insertIfAbsent(k, v) }
    }
}
