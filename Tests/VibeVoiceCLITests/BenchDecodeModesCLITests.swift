import Foundation
import VibeVoiceASR
import VibeVoiceCompute
import VibeVoiceText
import XCTest

/// `bench --batch-sizes` and `bench --forced-drafts` on a tiny checkpoint: the figures are timings, so the test checks
/// what must hold whatever the machine: every size reported, drafts of known acceptance give exactly their tokens per
/// step, and the ids never change.
final class BenchDecodeModesCLITests: XCTestCase {
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine/hf_bf16_chunked/model")

    func testBatchSizesAndForcedDraftsReportEveryPointWithIdenticalIds() throws {
        let run = try CLIRunner.run(["bench", "--model", model.path, "--batch-sizes", "1,2,4", "--forced-drafts",
                                     "--tokens", "33", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any])
        let tps = try XCTUnwrap(json["batch_tokens_per_s"] as? [String: Double])
        XCTAssertEqual(Set(tps.keys), ["1", "2", "4"])
        XCTAssertTrue(tps.values.allSatisfy { $0 > 0 })
        XCTAssertEqual((json["batch_speedup"] as? [String: Double])?["1"], 1)
        let drafts = try XCTUnwrap(json["forced_drafts"] as? [[String: Any]])
        XCTAssertEqual(drafts.map { $0["draft"] as? Int }, [1, 2, 4, 7])
        for d in drafts {
            XCTAssertEqual(d["identical"] as? Bool, true, "\(d)")
            XCTAssertEqual(d["tokens"] as? Int, 33)
            // The first token comes from the prompt's logits; each verify step then emits `accept + 1` (the last one
            // may be cut by the budget).
            let accept = d["accept"] as! Int, steps = d["verify_steps"] as! Int
            XCTAssertEqual(steps, (32 + accept) / (accept + 1), "\(d)")
        }
    }

    /// Drafts that follow a committed transcript's replay step by step: as many verify steps as the replay's first
    /// steps take to emit the tokens, the same ids, and the replay's own tokens per step reported beside.
    func testForcedDraftsFollowAReplayedTranscriptStepByStep() throws {
        let tokenizer = try XCTUnwrap(TokenizeCLITests.tokenizerPath, "cannot unpack the tokenizer fixture")
        let file = TranscriptDrafterTests.transcripts.appendingPathComponent("en_meeting.txt")
        let run = try CLIRunner.run(["bench", "--model", model.path, "--forced-drafts", "--tokens", "40",
                                     "--draft-replay", file.path, "--tokenizer", tokenizer, "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any])
        XCTAssertGreaterThan(json["plain_s_per_token"] as? Double ?? 0, 0)
        let replays = try XCTUnwrap(json["forced_draft_replays"] as? [[String: Any]])
        XCTAssertEqual(replays.count, 1)
        let r = replays[0]
        XCTAssertEqual(r["file"] as? String, "en_meeting.txt")
        XCTAssertEqual(r["identical"] as? Bool, true, "\(r)")
        XCTAssertEqual(r["tokens"] as? Int, 40)

        // The same replay in process: the steps it takes to emit 39 tokens after the first.
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer))
        let builder = try PromptBuilder(tokenizer: tok, hopLength: 3200, sampleRate: 24000)
        let (generated, prompt) = try DraftReplay.teacherSequence(transcriptFile: String(contentsOf: file, encoding: .utf8),
                                                                  tokenizer: tok, promptBuilder: builder)
        let replay = DraftReplay.run(generated: generated, context: prompt, drafter: TranscriptDrafter(tokenizer: tok), maxDraft: 7)
        XCTAssertEqual(replay.steps.count, replay.verifySteps)
        XCTAssertEqual(replay.steps.map(\.accepted).reduce(0, +), replay.accepted)
        var emitted = 0, steps = 0
        while emitted < 39 { emitted += replay.steps[steps].accepted + 1; steps += 1 }
        XCTAssertEqual(r["verify_steps"] as? Int, steps, "\(r)")
        XCTAssertEqual(r["replay_tokens_per_step"] as? Double ?? 0, 40 / Double(steps), accuracy: 1e-12)
        XCTAssertEqual(r["tokens_per_step"] as? Double ?? 0, 40 / Double(steps), accuracy: 1e-12)
    }

    /// `bench --multi-row`: every format's cost of 1, 2, 4 and 8 rows, the one-row rate they are relative to, and the
    /// streams setting they were measured with (the one the command names: here not the CPU's default).
    func testMultiRowReportsCostsAndTheOneRowRateUnderTheNamedStreams() throws {
        let streams = 3 - MatvecStreams.defaultPerThread
        let run = try CLIRunner.run(["bench", "--multi-row", "--matvec-streams", "\(streams)", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any])
        XCTAssertEqual(json["matvec_streams"] as? Int, streams)
        let costs = try XCTUnwrap(json["multirow_costs"] as? [String: [String: Double]])
        let rates = try XCTUnwrap(json["one_row_gbps"] as? [String: Double])
        for format in ["bf16", "q8_0", "q4_0"] {
            let formatCosts = costs[format] ?? [:]
            XCTAssertEqual(Set(formatCosts.keys), ["1", "2", "4", "8"], format)
            XCTAssertEqual(formatCosts["1"], 1, format)
            XCTAssertTrue(formatCosts.values.allSatisfy { $0 > 0 && $0.isFinite }, "\(format): \(formatCosts)")
            // 512 MB in well under 5 s and more than a microsecond: a rate, not a time or a byte count.
            XCTAssertTrue((0.1...1000).contains(rates[format] ?? 0), "\(format): \(rates)")
        }
    }

    func testBadBatchSizesAreUsageErrors() throws {
        for bad in ["0", "1,x", "17", ""] {
            let run = try CLIRunner.run(["bench", "--model", model.path, "--batch-sizes", bad])
            XCTAssertEqual(run.status, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("--batch-sizes takes comma-separated sizes"), run.stderr)
        }
        let noModel = try CLIRunner.run(["bench", "--forced-drafts"])
        XCTAssertEqual(noModel.status, 1, noModel.stderr)
    }

    /// A checkpoint in the original layout leaves the speech token ids to its tokenizer, so this tiny one's config
    /// names the released model's audio token (151648), outside its 384-id vocabulary: the synthetic prompts of
    /// bench and fidelity mark audio with an id the model has instead of failing.
    func testBenchAndFidelityRunOnAnOriginalLayoutCheckpointWithoutATokenizer() throws {
        let original = model.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("original_sharded_context/model")
        let bench = try CLIRunner.run(["bench", "--model", original.path, "--seconds", "2", "--tokens", "3", "--json"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let report = try JSONSerialization.jsonObject(with: bench.stdoutData) as? [String: Any] ?? [:]
        XCTAssertGreaterThan(report["prefill_tokens"] as? Int ?? 0, 63, "the prompt holds the audio positions")
        let fidelity = try CLIRunner.run(["fidelity", "--model", original.path, "--seconds", "2", "--tokens", "4",
                                          "--weights", "q8_0", "--json"])
        XCTAssertEqual(fidelity.status, 0, fidelity.stderr)
        let json = try JSONSerialization.jsonObject(with: fidelity.stdoutData) as? [String: Any] ?? [:]
        let results = json["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.map { $0["weights"] as? String }, ["q8_0"])
        XCTAssertLessThan(results.first?["mean_kl"] as? Double ?? 1, 1e-2)
    }
}
