import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// `bench --multi-row` and `bench --draft-replay`: what speculative and batched decoding build on.
extension BenchCommand {
    static let multiRowCounts = [1, 2, 4, 8]

    func runMultiRow() throws {
        FileHandle.standardError.write(Data("measuring 1, 2, 4 and 8 rows through the mat-vec kernels (512 MB weights) ...\n".utf8))
        var table: [String: [String: Double]] = [:]
        var oneRow: [String: Double] = [:]
        for dtype in [DType.bf16, .q8_0, .q4_0] {
            let timings = Benchmark.multiRowTimings(dtype: dtype, rows: Self.multiRowCounts)
            let name = dtype.userName.lowercased()
            table[name] = Dictionary(uniqueKeysWithValues: timings.costs.map { ("\($0.key)", $0.value) })
            oneRow[name] = timings.oneRowBytesPerSecond / 1e9
        }
        if json {
            let object: [String: Any] = ["threads": ComputeThreads.count, "multirow_costs": table,
                                         "one_row_gbps": oneRow, "matvec_streams": MatvecStreams.perThread]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("cost of m rows relative to one row (each weight streamed once), \(ComputeThreads.count) threads")
        print("format   " + Self.multiRowCounts.map { String(repeating: " ", count: max(0, 7 - "m=\($0)".count)) + "m=\($0)" }.joined())
        for name in ["bf16", "q8_0", "q4_0"] {
            let row = Self.multiRowCounts.map { String(format: "%7.2f", table[name]!["\($0)"]!) }.joined()
            print(name.padding(toLength: 9, withPad: " ", startingAt: 0) + row
                + String(format: "   (one row %.1f GB/s)", oneRow[name]!))
        }
    }

    /// Each `--draft-replay` file replayed through the transcript drafter.
    func replays() throws -> [(file: String, result: DraftReplay.Result)] {
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer!))
        let builder = try PromptBuilder(tokenizer: tok, hopLength: 3200, sampleRate: 24000)
        return try draftReplay.map { file in
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw CLIUsageError("cannot read transcript '\(file)': \(error.localizedDescription)")
            }
            let (generated, prompt) = try DraftReplay.teacherSequence(transcriptFile: text, tokenizer: tok, promptBuilder: builder)
            return (file, DraftReplay.run(generated: generated, context: prompt, drafter: TranscriptDrafter(tokenizer: tok),
                                          maxDraft: maxDraft))
        }
    }

    func runDraftReplay() throws {
        let replayed = try replays()
        let format = weights.flatMap { DType(blockFormatName: $0) } ?? .q8_0
        FileHandle.standardError.write(Data("measuring multi-row costs for \(format.userName) ...\n".utf8))
        let costs = Benchmark.multiRowCosts(dtype: format, rows: Array(1...(maxDraft + 1)))
        var results: [[String: Any]] = []
        for (file, r) in replayed {
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

/// `bench --model DIR --batch-sizes 1,2,4,8` and `bench --model DIR --forced-drafts`: batched and speculative
/// decoding measured on a loaded checkpoint.
extension BenchCommand {
    static func parseBatchSizes(_ list: String) throws -> [Int] {
        let sizes = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil && (1...16).contains($0!) }) else {
            throw CLIUsageError("--batch-sizes takes comma-separated sizes from 1 to 16 (for example 1,2,4,8), got '\(list)'")
        }
        return sizes.map { $0! }
    }

    /// Draft patterns (correct tokens, draft length): a wasted row, about what the transcript replays accept,
    /// and full acceptance.
    static let forcedDraftPatterns: [(accept: Int, draft: Int)] = [(0, 1), (1, 2), (3, 4), (7, 7)]

    func runDecodeModes(_ model: String) throws {
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        log("loading \(model) ...")
        let m = try VibeVoiceASRModel(directory: URL(fileURLWithPath: model), weights: weights.flatMap { DType(blockFormatName: $0) },
                                      kvCache: runtime.kvCache)
        try runtime.applyPrefill(for: m.decoderWeightFormat)
        defer { Linear.int8GEMM = false }
        var object: [String: Any] = ["weights": m.decoder.mainWeightFormat.userName, "threads": ComputeThreads.count]
        var lines = ["weights \(m.decoder.mainWeightFormat.userName), \(ComputeThreads.count) threads"]
        if let list = batchSizes {
            let points = try Benchmark.batchDecode(model: m, batchSizes: Self.parseBatchSizes(list), steps: tokens, log: log)
            let base = points.first { $0.batch == 1 }?.tokensPerSecond
            object["batch_tokens_per_s"] = Dictionary(uniqueKeysWithValues: points.map { ("\($0.batch)", $0.tokensPerSecond) })
            object["batch_s_per_step"] = Dictionary(uniqueKeysWithValues: points.map { ("\($0.batch)", $0.secondsPerStep) })
            if let base {
                object["batch_speedup"] = Dictionary(uniqueKeysWithValues: points.map { ("\($0.batch)", $0.tokensPerSecond / base) })
            }
            lines.append("batch  s/step   aggregate tok/s" + (base != nil ? "  vs batch 1" : ""))
            for p in points {
                lines.append(String(format: "%5d  %6.3f   %8.2f", p.batch, p.secondsPerStep, p.tokensPerSecond)
                             + (base.map { String(format: "         %.2fx", p.tokensPerSecond / $0) } ?? ""))
            }
        }
        if forcedDrafts {
            let traces = try (draftReplay.isEmpty ? [] : replays()).map { (name: URL(fileURLWithPath: $0.file).lastPathComponent, steps: $0.result.steps) }
            let run = try Benchmark.forcedDrafts(model: m, tokens: tokens, patterns: Self.forcedDraftPatterns, traces: traces,
                                                 log: log)
            let points = run.points
            object["plain_s_per_token"] = run.plainSecondsPerToken
            object["forced_drafts"] = points.map {
                ["accept": $0.accept, "draft": $0.draft, "tokens": $0.tokens, "verify_steps": $0.verifySteps,
                 "tokens_per_step": $0.tokensPerStep, "s_per_token": $0.secondsPerToken, "speedup": $0.speedup,
                 "identical": $0.identical] as [String: Any]
            }
            lines.append(String(format: "plain decoding: %.4f s/token", run.plainSecondsPerToken))
            lines.append("draft  correct  tokens/step  s/token  speedup  same ids")
            for p in points {
                lines.append(String(format: "%5d  %7d  %11.2f  %7.3f  %6.2fx  %@", p.draft, p.accept, p.tokensPerStep,
                                    p.secondsPerToken, p.speedup, p.identical ? "yes" : "NO"))
            }
            if !run.traced.isEmpty {
                object["forced_draft_replays"] = run.traced.map {
                    ["file": $0.name, "tokens": $0.point.tokens, "verify_steps": $0.point.verifySteps,
                     "tokens_per_step": $0.point.tokensPerStep, "replay_tokens_per_step": $0.replayTokensPerStep,
                     "proposed": $0.point.draft, "accepted": $0.point.accept, "s_per_token": $0.point.secondsPerToken,
                     "speedup": $0.point.speedup, "identical": $0.point.identical] as [String: Any]
                }
                lines.append("drafts as replayed                 tokens/step (replay)  s/token  speedup  same ids")
                for t in run.traced {
                    let p = t.point
                    lines.append(t.name.padding(toLength: 34, withPad: " ", startingAt: 0)
                                 + String(format: "%6.2f (%5.2f)        %7.3f  %6.2fx  %@", p.tokensPerStep, t.replayTokensPerStep,
                                          p.secondsPerToken, p.speedup, p.identical ? "yes" : "NO"))
                }
            }
            if (points + run.traced.map(\.point)).contains(where: { !$0.identical }) {
                throw CLIUsageError("speculative decoding changed the emitted ids; this is a bug")
            }
        }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(lines.joined(separator: "\n"))
        }
    }
}
