import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// Speed and memory figures on a real or synthesised checkpoint, with ratios to this machine's
/// own measured floors.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure load time, peak memory, encoder, prefill and decode speed against the machine's floors.",
        discussion: """
        The floors are measured in the same run: memory read bandwidth (a threaded f32 mat-vec over 512 MB), \
        the sgemm rate (512x2048x2048), and the mat-vec stream rate of the decoder's weight format. With \
        --json one JSON object is printed with stable keys (SI units): weights, threads, bandwidth_gbps, \
        sgemm_gflops, load_s, encode_s_per_audio_s, encode_ratio_to_sgemm, prefill_tokens, prefill_tokens_per_s, \
        prefill_ratio_to_sgemm, decode_s_per_token, decode_bytes_per_token, decode_ratio_to_floor, \
        peak_resident_bytes, attention_s, prefill_flop_ratio_to_sgemm, prefill_ratio_to_sgemm_513_tokens and \
        _2313_tokens (with --prefill-sweep, or from a run of that prompt length), rtf_60s_400_tokens (a 60 s run: \
        (encode + prefill + 400 x decode) / 60), kv_cache, kv_cache_bytes, and more.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("A local model directory.", valueName: "dir"))
    var model: String?

    @Flag(help: "Only measure what recording token log-probabilities costs: a log-sum-exp over 152064 logits against the LM-head mat-vec (152064 x 3584 bf16) that makes them. Needs no model.")
    var logSoftmax = false

    @Option(help: ArgumentHelp("Quantise a BF16/F16/F32 checkpoint's decoder while loading: q8_0 or q4_0.", valueName: "format"))
    var weights: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds of synthetic audio to encode and prefill.", valueName: "s"))
    var seconds: Double = 60

    @Option(parsing: .unconditional, help: ArgumentHelp("Tokens to decode.", valueName: "n"))
    var tokens: Int = 16

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads (default: all cores).", valueName: "n"))
    var threads: Int?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: "Skip the speech encoders: the audio slots get random embeddings (decoder-only figures).")
    var noEncode = false

    @Flag(help: "Only measure the multi-row mat-vec kernels: the cost of 1, 2, 4 and 8 rows relative to one, per weight format. Needs no model.")
    var multiRow = false

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Replay transcripts (raw model outputs or json/verbose_json transcripts) through the speculative drafter: tokens per verify step and the projected decode speedup from measured multi-row costs (--weights: their format, default q8_0). Takes several files. Needs --tokenizer, no model.",
                               valueName: "file"))
    var draftReplay: [String] = []

    @Option(help: ArgumentHelp("tokenizer.json (or its directory) for --draft-replay.", valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("Longest draft for --draft-replay (default 7: up to 8 rows per step).", valueName: "n"))
    var maxDraft: Int = 7

    /// Longest synthetic clip: 3 hours (the 24 kHz signal alone is 1 GB).
    static let maxSeconds = 10_800.0
    static let maxTokens = 32_768

    @Option(help: ArgumentHelp("With --model: instead of the standard run, decode with this many sequences together (comma-separated, 1-16, e.g. 1,2,4,8) and report aggregate tokens/s (--tokens steps each).", valueName: "list"))
    var batchSizes: String?

    @Flag(help: "With --model: instead of the standard run, decode --tokens tokens plainly and then with drafts of known acceptance built from that run (exact: the ids must not change), and report the measured speedup. With --draft-replay FILE... (and --tokenizer), also with drafts whose acceptance follows each transcript's replay step by step.")
    var forcedDrafts = false

    @OptionGroup var runtime: DecoderRuntimeOptions

    @Option(help: ArgumentHelp("Use at most this instruction-set path for the q8_0/q4_0 kernels: scalar, avx2, avxvnni or avx512vnni (default: the best this CPU has). All give the same bits; for comparisons.", valueName: "path"))
    var quantKernels: String?

    @Option(help: ArgumentHelp("Row chunks per thread that the decode mat-vecs hand out to whichever thread is free (default 4; 1: one fixed range per thread). For comparisons.", valueName: "n"))
    var matvecChunks: Int?

    @Option(help: ArgumentHelp("Memory streams per thread of the q8_0/q4_0 decode mat-vecs (and, on the AVX-512 path, their products of up to 8 rows): 2 walks two halves of each thread's rows side by side, 1 walks them in order (default: 1 on AMD processors, 2 elsewhere). Both give the same bits; for comparisons.", valueName: "n"))
    var matvecStreams: Int?

    @Flag(help: "Also prefill the 60 s and 300 s prompt shapes (513 and 2313 tokens, random audio embeddings) for their ratios to the sgemm rate.")
    var prefillSweep = false

    func validate() throws {
        if !(seconds > 0 && seconds <= Self.maxSeconds) {
            throw CLIUsageError("--seconds must be more than 0 and at most \(Int(Self.maxSeconds)), got \(seconds)")
        }
        if !(1...Self.maxTokens).contains(tokens) {
            throw CLIUsageError("--tokens must be between 1 and \(Self.maxTokens), got \(tokens)")
        }
        try CLILimits.checkThreads(threads)
        if let w = weights, DType(blockFormatName: w) == nil {
            throw CLIUsageError("--weights must be one of: \(DType.blockFormats.map(\.userName).joined(separator: ", "))")
        }
        if model == nil && !logSoftmax && !multiRow && draftReplay.isEmpty {
            throw CLIUsageError("give --model DIR (or --log-softmax, --multi-row or --draft-replay, which need none)")
        }
        if !draftReplay.isEmpty && tokenizer == nil { throw CLIUsageError("--draft-replay needs --tokenizer PATH") }
        if !(1...Linear.maxMatvecRows - 1).contains(maxDraft) {
            throw CLIUsageError("--max-draft must be between 1 and \(Linear.maxMatvecRows - 1)")
        }
        if let path = quantKernels, QuantKernelPath(rawValue: path) == nil {
            throw CLIUsageError("--quant-kernels must be one of: \(QuantKernelPath.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let n = matvecChunks, !(1...64).contains(n) {
            throw CLIUsageError("--matvec-chunks must be between 1 and 64, got \(n)")
        }
        if let n = matvecStreams, !(1...2).contains(n) {
            throw CLIUsageError("--matvec-streams must be 1 or 2, got \(n)")
        }
        if let list = batchSizes { _ = try Self.parseBatchSizes(list) }
        if (batchSizes != nil || forcedDrafts) && model == nil { throw CLIUsageError("--batch-sizes and --forced-drafts need --model DIR") }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        if let path = quantKernels.flatMap(QuantKernelPath.init(rawValue:)) { QuantKernelPath.cap(path) }
        if let matvecChunks { Parallel.balancedChunksPerThread = matvecChunks }
        if let matvecStreams { MatvecStreams.perThread = matvecStreams }
        if logSoftmax { return runLogSoftmax() }
        if multiRow { return try runMultiRow() }
        if !draftReplay.isEmpty && !(forcedDrafts && model != nil) { return try runDraftReplay() }
        let model = self.model!
        // A model that cannot be read fails before the (seconds-long) machine measurements.
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue else {
            throw CLIUsageError("--model '\(model)' is not a local checkpoint folder; bench reads a downloaded model "
                                    + "(a Hub repo is fetched by `vibevoice-asr transcribe -m ORG/NAME`)")
        }
        if batchSizes != nil || forcedDrafts { return try runDecodeModes(model) }
        let r: Benchmark.Report
        do {
            r = try runBenchmark(model)
        } catch let e as BenchmarkError {
            throw CLIUsageError(e.description)
        }
        report(r)
    }

    private func runBenchmark(_ model: String) throws -> Benchmark.Report {
        try Benchmark.run(modelDirectory: URL(fileURLWithPath: model), weights: weights.flatMap { DType(blockFormatName: $0) },
                          audioSeconds: seconds, decodeTokens: tokens, encode: !noEncode, kvCache: runtime.kvCache,
                          prefillSweep: prefillSweep, prefill: runtime.prefillProducts) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
    }

    private func report(_ r: Benchmark.Report) {
        if json {
            let data = (try? JSONSerialization.data(withJSONObject: r.json, options: [.sortedKeys])) ?? Data("{}".utf8)
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let gb = 1e9
        var lines: [String] = []
        lines.append(String(format: "weights                 %@, threads %d (SIMD kernels: %@, block formats: %@)%@", r.weights,
                            r.threads, r.kernelsUseSIMD ? "on" : "off", r.quantKernels,
                            r.prefillDetail.int8Prefill ? ", integer prefill" : ""))
        lines.append(String(format: "memory read bandwidth   %.1f GB/s", r.bandwidth / gb))
        lines.append(String(format: "decode mat-vec stream   %.1f GB/s (%.2f of the read bandwidth)", r.matvecBandwidth / gb,
                            r.matvecBandwidth / r.bandwidth))
        lines.append(String(format: "sgemm rate              %.1f GFLOP/s", r.sgemm / gb))
        lines.append(String(format: "load                    %.2f s; %.0f%% of the decoder in the page cache at load%@",
                            r.loadSeconds, 100 * r.decoderCachedFraction,
                            r.decoderCachedFraction < 0.99 ? " (load or prefill reads the rest from the disk)" : ""))
        if noEncode {
            lines.append("encode                  skipped (--no-encode)")
        } else {
            lines.append(String(format: "encode                  %.2f s for %.1f s of audio (%.3f s per audio second; %.1f GFLOP/s, ratio %.2f to sgemm)",
                                r.encodeSeconds, r.audioSeconds, r.encodeSeconds / r.audioSeconds, r.encodeFLOPsPerSecond / gb,
                                r.encodeFLOPsPerSecond / r.sgemm))
        }
        lines.append(String(format: "prefill                 %d tokens in %.2f s = %.2f tok/s (ceiling %.2f tok/s at the sgemm rate, ratio %.2f)",
                            r.promptTokens, r.prefillSeconds, r.prefillTokensPerSecond, r.prefillCeilingTokensPerSecond,
                            r.prefillTokensPerSecond / r.prefillCeilingTokensPerSecond))
        lines.append(String(format: "decode                  %.3f s/token (floor %.3f s/token streaming %.2f GB at the measured bandwidth, ratio %.2f)",
                            r.decodeSecondsPerToken, r.decodeFloorSecondsPerToken, Double(r.weightBytesPerToken) / gb,
                            r.decodeSecondsPerToken / r.decodeFloorSecondsPerToken))
        let d = r.prefillDetail
        lines.append(String(format: "prefill FLOPs           %.3g (matrices, LM head for the last row, causal attention): %.1f GFLOP/s, ratio %.2f to sgemm; attention %.2f s",
                            d.prefillFLOPs, d.prefillFLOPs / r.prefillSeconds / gb, d.prefillFLOPs / r.prefillSeconds / r.sgemm,
                            d.attentionSeconds))
        for n in Benchmark.PrefillDetail.sweepLengths {
            if let t = d.points[n] {
                lines.append(String(format: "prefill, %4d tokens     %.2f tok/s (ratio %.2f to the sgemm ceiling)", n, Double(n) / t,
                                    Double(n) / t / r.prefillCeilingTokensPerSecond))
            }
        }
        if r.audioSeconds == 60, r.encodeSeconds > 0 {
            let rtf = (r.encodeSeconds + r.prefillSeconds + Double(Benchmark.PrefillDetail.rtfTokens) * r.decodeSecondsPerToken) / 60
            lines.append(String(format: "real-time factor        %.2f for this 60 s clip with %d generated tokens", rtf,
                                Benchmark.PrefillDetail.rtfTokens))
        }
        lines.append(String(format: "KV cache                %@, %.2f GB at %d positions", d.kvCache.rawValue,
                            Double(d.kvCacheBytesPerPosition * d.finalContext) / gb, d.finalContext))
        if let peak = r.peakResidentBytes {
            lines.append(String(format: "peak resident memory    %.2f GB", Double(peak) / gb))
        }
        print(lines.joined(separator: "\n"))
    }

    private func runLogSoftmax() {
        FileHandle.standardError.write(Data("measuring the LM-head mat-vec and the log-sum-exp over its logits ...\n".utf8))
        let r = LogSoftmaxBenchmark.run()
        let ms = 1000.0
        print(String(format: "threads                 %d", ComputeThreads.count))
        print(String(format: "LM-head mat-vec         %.2f ms median, %.2f ms best (%d x %d bf16, %.2f GB)", r.matvecMedian * ms,
                     r.matvecBest * ms, r.vocab, r.hidden, Double(r.vocab * r.hidden * 2) / 1e9))
        print(String(format: "log-sum-exp of logits   %.3f ms median, %.3f ms best", r.logSumExpMedian * ms, r.logSumExpBest * ms))
        print(String(format: "ratio                   %.2f%% of the LM-head mat-vec; %.3f%% of a decode step (%.1f GB of weights per token)",
                     100 * r.ratioToLMHead, 100 * r.ratioToDecode, Double(r.decodeBytesPerToken) / 1e9))
    }
}
