import Foundation

/// Deterministic pseudo-random numbers (xoshiro256**, seeded through SplitMix64), so a seed
/// reproduces a run on every platform.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Float {
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

/// Picks the next token from logits: greedy when temperature is 0, otherwise temperature +
/// nucleus (top-p) sampling; an optional repetition penalty as in transformers
/// (`logit / p` when positive, `logit · p` when negative, over every id seen so far).
public struct TokenSampler: Sendable {
    public var temperature: Float
    public var topP: Float
    public var repetitionPenalty: Float
    private var rng: SeededRandom

    public init(temperature: Float = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        rng = SeededRandom(seed: seed)
    }

    /// Index of the largest logit (the first one on ties, like `torch.argmax`).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return best
    }

    public mutating func next(logits: inout [Float], seen: Set<Int>) -> Int {
        if repetitionPenalty != 1 {
            for id in seen where id >= 0 && id < logits.count {
                let l = logits[id]
                logits[id] = l > 0 ? l / repetitionPenalty : l * repetitionPenalty
            }
        }
        if temperature <= 0 {
            return logits.withUnsafeBufferPointer { Self.argmax($0) }
        }
        var maxLogit = -Float.infinity
        for l in logits where l > maxLogit { maxLogit = l }
        var probs = [(Int, Double)]()
        probs.reserveCapacity(logits.count)
        var sum = 0.0
        for (i, l) in logits.enumerated() {
            let p = Foundation.exp(Double((l - maxLogit) / temperature))
            if p > 0 { probs.append((i, p)); sum += p }
        }
        probs.sort { $0.1 > $1.1 }
        var kept = probs.count
        if topP < 1 {
            var cumulative = 0.0
            for (j, item) in probs.enumerated() {
                cumulative += item.1 / sum
                if cumulative >= Double(topP) { kept = j + 1; break }
            }
        }
        let keptSum = probs[0..<kept].reduce(0) { $0 + $1.1 }
        var r = rng.nextUniform() * keptSum
        for item in probs[0..<kept] {
            r -= item.1
            if r <= 0 { return item.0 }
        }
        return probs[kept - 1].0
    }
}
