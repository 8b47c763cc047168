import Foundation
import VibeVoiceModel
import VibeVoiceText

/// Replays a known generation through a drafter, offline, as exact speculative decoding would meet it: at
/// each verify step the drafter proposes from what has been emitted, the proposal's longest prefix that equals
/// the real next tokens is accepted, plus the next token itself. Random weights never write a real transcript,
/// so this is how acceptance is measured on realistic ones (`bench --draft-replay`).
public enum DraftReplay {
    /// One verify step of a replay.
    public struct Step: Sendable, Equatable {
        public var proposed: Int
        public var accepted: Int
        public init(proposed: Int, accepted: Int) {
            self.proposed = proposed
            self.accepted = accepted
        }
    }

    public struct Result: Sendable {
        /// Tokens emitted after the first one (the first comes from the prompt's logits, without a step).
        public var tokens: Int
        public var verifySteps: Int
        public var proposed: Int
        public var accepted: Int
        /// Steps by the number of rows they fed (index: rows).
        public var rowsHistogram: [Int: Int]
        /// Each verify step in order: the tokens proposed and how many of them were accepted.
        public var steps: [Step] = []
        public var tokensPerStep: Double { Double(tokens) / Double(max(1, verifySteps)) }

        /// Decode speedup if a step of `m` rows costs `costs[m]` one-row steps (1 for m = 1).
        public func projectedSpeedup(costs: [Int: Double]) -> Double {
            var cost = 0.0
            for (rows, n) in rowsHistogram { cost += Double(n) * Self.cost(rows, costs) }
            return Double(tokens) / cost
        }

        /// Measured costs where given, else linear interpolation between the nearest measured row counts.
        static func cost(_ m: Int, _ costs: [Int: Double]) -> Double {
            if let c = costs[m] { return c }
            let known = costs.keys.sorted()
            guard let hi = known.first(where: { $0 > m }), let lo = known.last(where: { $0 < m }) else {
                return Double(m)
            }
            let t = Double(m - lo) / Double(hi - lo)
            return costs[lo]! + t * (costs[hi]! - costs[lo]!)
        }
    }

    /// `generated` as the model would write it after `context`, replayed through `drafter`.
    public static func run(generated: [Int], context: [Int], drafter: Drafter, maxDraft: Int) -> Result {
        var r = Result(tokens: max(0, generated.count - 1), verifySteps: 0, proposed: 0, accepted: 0, rowsHistogram: [:])
        guard !generated.isEmpty else { return r }
        drafter.observe(context)
        drafter.observe([generated[0]])
        var i = 1
        while i < generated.count {
            let draft = drafter.propose(limit: min(maxDraft, generated.count - i - 1))
            var a = 0
            while a < draft.count, draft[a] == generated[i + a] { a += 1 }
            r.verifySteps += 1
            r.proposed += draft.count
            r.accepted += a
            r.rowsHistogram[draft.count + 1, default: 0] += 1
            r.steps.append(Step(proposed: draft.count, accepted: a))
            drafter.observe(Array(generated[i..<(i + a + 1)]))
            i += a + 1
        }
        return r
    }

    /// The ids the model writes for a transcript file (a raw model output, or this tool's `json`/`verbose_json`
    /// rendered back into the model's format): `<|im_start|>assistant\n…<|im_end|>\n<|endoftext|>`, and the
    /// prompt it would follow (the audio's duration read from the last segment's end; `context` as given).
    public static func teacherSequence(transcriptFile text: String, tokenizer: Tokenizer, promptBuilder: PromptBuilder,
                                       context: String? = nil) throws -> (generated: [Int], prompt: [Int]) {
        var body = try ModelOutputFormat.body(ofTranscriptFile: text)
        if body.hasPrefix("assistant\n") { body.removeFirst("assistant\n".count) }
        let generated = tokenizer.encode("<|im_start|>assistant\n") + tokenizer.encodePlainText(body)
            + tokenizer.encode("<|im_end|>\n<|endoftext|>")
        let duration = try TranscriptReader.read(text).segments.map(\.end).max() ?? 60
        let prompt = promptBuilder.promptIDs(rawSampleCount: Int(max(1, duration) * 24000), context: context)
        return (generated, prompt)
    }
}
