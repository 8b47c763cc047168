import Foundation
import VibeVoiceCompute

/// What recording each generated token's log-probability costs: one log-sum-exp over the logits, against
/// the mat-vec that made them (the LM head, 152 064 × 3584 bf16 in the released model, 1.09 GB read per
/// token). Needs no checkpoint: the weight is synthetic, the shapes are the real ones.
public enum LogSoftmaxBenchmark {
    public struct Report: Sendable {
        public var vocab: Int
        public var hidden: Int
        public var repetitions: Int
        /// Best and median seconds of one LM-head mat-vec and of one log-sum-exp over its output.
        public var matvecBest: Double
        public var matvecMedian: Double
        public var logSumExpBest: Double
        public var logSumExpMedian: Double
        /// Bytes of the full model's decode step (28 layers + LM head), to put the figure against a whole token.
        public var decodeBytesPerToken: Int

        /// Log-sum-exp over the LM-head mat-vec (medians).
        public var ratioToLMHead: Double { logSumExpMedian / matvecMedian }
        /// Log-sum-exp over a whole decode step, taking the step as the mat-vec's rate over all its bytes.
        public var ratioToDecode: Double {
            logSumExpMedian / (matvecMedian * Double(decodeBytesPerToken) / Double(vocab * hidden * 2))
        }
    }

    public static func run(vocab: Int = 152_064, hidden: Int = 3584, repetitions: Int = 7,
                           decodeBytesPerToken: Int = 14_130_000_000) -> Report {
        let count = vocab * hidden
        let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        defer { buffer.deallocate() }
        // bf16 values of magnitude ~0.01 to 0.1 with varied signs, so the logits spread like real ones.
        Parallel.forRanges(vocab, minChunk: 1024) { r0, r1 in
            var state = UInt32(truncatingIfNeeded: r0 &* 2_654_435_761 | 1)
            for i in (r0 * hidden)..<(r1 * hidden) {
                state ^= state << 13; state ^= state >> 17; state ^= state << 5
                let f = (Float(state & 0xFFFF) / 65535 - 0.5) * 0.2
                buffer[i] = UInt16(truncatingIfNeeded: f.bitPattern >> 16)
            }
        }
        let weight = WeightTensor(dtype: .bf16, shape: [vocab, hidden], data: UnsafeRawPointer(buffer), owner: nil)
        let head = Linear(weight: weight, bias: nil)
        var rng = SeededRandom(seed: 3)
        let x = (0..<hidden).map { _ in rng.nextGaussian() }
        var logits = [Float](repeating: 0, count: vocab)
        var matvec: [Double] = []
        var lse: [Double] = []
        var sink = 0.0
        for _ in 0..<repetitions {     // alternate the two, so both see the same machine state
            var t = Date()
            x.withUnsafeBufferPointer { xp in
                logits.withUnsafeMutableBufferPointer { head.forward(xp.baseAddress!, rows: 1, into: $0.baseAddress!) }
            }
            matvec.append(Date().timeIntervalSince(t))
            t = Date()
            sink += LogSoftmax.logSumExp(logits)
            lse.append(Date().timeIntervalSince(t))
        }
        precondition(sink.isFinite, "log-sum-exp of the synthetic logits is not finite")
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return Report(vocab: vocab, hidden: hidden, repetitions: repetitions, matvecBest: matvec.min()!,
                      matvecMedian: median(matvec), logSumExpBest: lse.min()!, logSumExpMedian: median(lse),
                      decodeBytesPerToken: decodeBytesPerToken)
    }
}
