import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// `bench --multi-row` and `bench --draft-replay`: what speculative and batched decoding build on.
extension BenchCommand {
    static let multiRowCounts = [1, 2, 4, 8]

    func runMultiRow() throws {
        FileHandle.standardError.write(Data("measuring 1, 2, 4 and 8 rows through the mat-vec kernels (512 MB weights) ...\n".utf8))
        var table: [String: [String: Double]] = [:]
        for dtype in [DType.bf16, .q8_0, .q4_0] {
            let costs = Benchmark.multiRowCosts(dtype: dtype, rows: Self.multiRowCounts)
            table[dtype.userName.lowercased()] = Dictionary(uniqueKeysWithValues: costs.map { ("\($0.key)", $0.value) })
        }
        if json {
            let object: [String: Any] = ["threads": ComputeThreads.count, "multirow_costs": table]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("cost of m rows relative to one row (each weight streamed once), \(ComputeThreads.count) threads")
        print("format   " + Self.multiRowCounts.map { String(format: "%7@", "m=\($0)" as NSString) }.joined())
        for name in ["bf16", "q8_0", "q4_0"] {
            let row = Self.multiRowCounts.map { String(format: "%7.2f", table[name]!["\($0)"]!) }.joined()
            print(name.padding(toLength: 9, withPad: " ", startingAt: 0) + row)
        }
    }

    func runDraftReplay() throws {
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer!))
        let builder = try PromptBuilder(tokenizer: tok, hopLength: 3200, sampleRate: 24000)
        let format = weights.flatMap { DType(blockFormatName: $0) } ?? .q8_0
        FileHandle.standardError.write(Data("measuring multi-row costs for \(format.userName) ...\n".utf8))
        let costs = Benchmark.multiRowCosts(dtype: format, rows: Array(1...(maxDraft + 1)), rounds: 2)
        var results: [[String: Any]] = []
        for file in draftReplay {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw CLIUsageError("cannot read transcript '\(file)': \(error.localizedDescription)")
            }
            let (generated, prompt) = try DraftReplay.teacherSequence(transcriptFile: text, tokenizer: tok, promptBuilder: builder)
            let r = DraftReplay.run(generated: generated, context: prompt, drafter: TranscriptDrafter(tokenizer: tok),
                                    maxDraft: maxDraft)
            results.append(["file": file, "tokens": r.tokens, "verify_steps": r.verifySteps,
                            "tokens_per_step": r.tokensPerStep, "proposed": r.proposed, "accepted": r.accepted,
                            "acceptance": Double(r.accepted) / Double(max(1, r.proposed)),
                            "projected_speedup": r.projectedSpeedup(costs: costs)])
        }
        let costTable = Dictionary(uniqueKeysWithValues: costs.map { ("\($0.key)", $0.value) })
        if json {
            var object: [String: Any] = ["weights": format.userName, "max_draft": maxDraft, "multirow_costs": costTable,
                                         "replays": results]
            if results.count == 1 { for (k, v) in results[0] { object[k] = v } }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("multi-row costs (\(format.userName)): " + costs.keys.sorted().map { String(format: "%d:%.2f", $0, costs[$0]!) }
            .joined(separator: " "))
        print("transcript                          tokens  steps  tokens/step  accepted/proposed  projected speedup")
        for r in results {
            let name = URL(fileURLWithPath: r["file"] as! String).lastPathComponent
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + String(format: "%7d %6d %12.2f %11d/%-7d %10.2fx", r["tokens"] as! Int, r["verify_steps"] as! Int,
                         r["tokens_per_step"] as! Double, r["accepted"] as! Int, r["proposed"] as! Int,
                         r["projected_speedup"] as! Double))
        }
    }
}
