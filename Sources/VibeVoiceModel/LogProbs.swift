import Foundation
import VibeVoiceCompute

/// Log-probabilities from logits: `log p(t) = logit[t] − logsumexp(logits)`, the log-softmax transformers'
/// loss and OpenAI's `avg_logprob` are made of. One read-only pass for the maximum and one for the sum
/// of exponentials (f32 exponentials summed in f64), threaded over the vocabulary.
public enum LogSoftmax {
    /// `log Σ exp(x)` over `count` values.
    public static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
        guard count > 0 else { return -.infinity }
        var m = -Float.infinity
        for i in 0..<count where x[i] > m { m = x[i] }
        guard m.isFinite else { return Double(m) }
        let chunk = 8192
        let chunks = (count + chunk - 1) / chunk
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: chunks)
        defer { sums.deallocate() }
        Parallel.forRanges(chunks, minChunk: 4) { c0, c1 in
            for c in c0..<c1 {
                var s = 0.0
                for i in (c * chunk)..<min(count, (c + 1) * chunk) { s += Double(expf(x[i] - m)) }
                sums[c] = s
            }
        }
        var total = 0.0
        for c in 0..<chunks { total += sums[c] }
        return Double(m) + Foundation.log(total)
    }

    public static func logSumExp(_ x: [Float]) -> Double {
        x.withUnsafeBufferPointer { logSumExp($0.baseAddress!, count: $0.count) }
    }

    /// `log p(token)` under the softmax of `logits`.
    public static func logProb(of token: Int, logits: UnsafePointer<Float>, count: Int) -> Double {
        Double(logits[token]) - logSumExp(logits, count: count)
    }
}

extension Qwen2Decoder {
    /// Log-probabilities of `targets[k]` given the final hidden state in row `rows[k]` of `hidden`
    /// (`[*, hidden_size]`, as `forward` leaves it). The LM head runs over at most `block` rows at a time,
    /// so scratch memory stays `block × vocab` floats however many positions are scored.
    public func logProbs(hidden: UnsafePointer<Float>, rows: [Int], targets: [Int], block: Int = 32) -> [Double] {
        precondition(rows.count == targets.count, "one target per row")
        let h = config.hiddenSize
        let v = config.vocabSize
        var out: [Double] = []
        out.reserveCapacity(rows.count)
        let step = max(1, block)
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: min(step, max(1, rows.count)) * h)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: min(step, max(1, rows.count)) * v)
        defer {
            gathered.deallocate()
            logits.deallocate()
        }
        var start = 0
        while start < rows.count {
            let n = min(step, rows.count - start)
            for k in 0..<n { (gathered + k * h).update(from: hidden + rows[start + k] * h, count: h) }
            self.logits(gathered, rows: n, into: logits)
            for k in 0..<n {
                let t = targets[start + k]
                precondition(t >= 0 && t < v, "token id \(t) outside the vocabulary")
                out.append(LogSoftmax.logProb(of: t, logits: logits + k * v, count: v))
            }
            start += n
        }
        return out
    }
}

/// The sampling loop shared by `GenerationSession` and `DecoderSession`: sample from `logits`, record
/// the token's log-probability under the model's own distribution (the logits before repetition penalty
/// and temperature), then feed the token and compute the next logits; greedy decoding verifies drafted
/// tokens several at a time (`DecodeStream`). The last token (a stop token, the budget's last, or the one
/// `onToken` refused) is not fed: the cache then ends just before it.
struct DecodeLoop {
    let decoder: Qwen2Decoder
    let cache: KVCache

    struct Output {
        var tokens: [Int] = []
        var logProbs: [Double] = []
        var reason = StopReason.maxNewTokens
    }

    /// Speculation statistics of the last run.
    struct Stats {
        var steps = 0
        var proposed = 0
        var accepted = 0
    }

    func run(logits: inout [Float], context: [Int], options: GenerationOptions,
             onToken: (Int) -> Bool) -> (output: Output, stats: Stats) {
        withoutActuallyEscaping(onToken) { onToken in
            let stream = logits.withUnsafeBufferPointer {
                DecodeStream(cache: cache, logits: $0, context: context, options: options, onToken: onToken)
            }
            let stepper = DecodeStepper(decoder: decoder)
            while !stream.finished { stepper.step([stream]) }
            return (stream.output, Stats(steps: stream.steps, proposed: stream.proposed, accepted: stream.accepted))
        }
    }
}
