import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// How faithful quantised weights are to the stored ones, on one teacher-forced sequence.
struct FidelityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fidelity",
        abstract: "Compare quantised decoders with the stored weights: KL divergence, top-1 agreement, logit error.",
        discussion: """
        The stored (reference) model encodes the audio (synthetic, or --audio), builds the prompt and greedily \
        generates --tokens more; that whole sequence is then teacher-forced through each quantised decoder and \
        the next-token distributions at every position are compared with the reference's: mean and largest KL \
        divergence KL(reference || quantised), top-1 agreement, largest and mean absolute logit error. With --ids \
        a given text-only id sequence (a JSON array) is used instead. --dump writes the ids and every logit \
        matrix (raw little-endian f32 [positions, vocab]) for comparisons with other engines. --int8-prefill adds \
        each quantised candidate again with the integer prefill; --kv-cache-f16 adds the stored weights with an f16 \
        key/value cache.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("The reference checkpoint directory (BF16, F16 or F32).", valueName: "dir"))
    var model: String

    @Option(help: ArgumentHelp("Comma-separated block formats to quantise to while loading.", valueName: "list"))
    var weights: String = "q8_0,q4_0"

    @Option(help: ArgumentHelp("A quantised checkpoint of the same model to compare too (repeatable).", valueName: "dir"))
    var quantized: [String] = []

    @Option(help: ArgumentHelp("Seconds of synthetic audio for the prompt.", valueName: "s"))
    var seconds: Double = 10

    @Option(help: ArgumentHelp("An audio file for the prompt instead of synthetic audio.", valueName: "path"))
    var audio: String?

    @OptionGroup var audioStreamOption: AudioStreamOption

    @Option(help: ArgumentHelp("Tokens the reference generates after the prompt (teacher-forced into the others).", valueName: "n"))
    var tokens: Int = 64

    @Option(help: ArgumentHelp("A JSON array of token ids to teacher-force instead (text only, no audio).", valueName: "file"))
    var ids: String?

    @Option(help: ArgumentHelp("Write ids.json and logits-<weights>.f32 into this directory.", valueName: "dir"))
    var dump: String?

    @Option(help: ArgumentHelp("A tokenizer.json (or its directory) for the real prompt, when the model has none.", valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("Threads (default: all cores).", valueName: "n"))
    var threads: Int?

    @Flag(help: "Also compare each quantised candidate with the integer prefill (transcribe/bench --prefill integer, the default on the AVX-512 VNNI kernel path): the teacher-forced rows go through decode's integer kernels. Without it the quantised rows use the float prefill (--prefill float).")
    var int8Prefill = false

    @Flag(help: "Also compare the stored weights with an f16 key/value cache (transcribe --kv-cache f16).")
    var kvCacheF16 = false

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func validate() throws {
        if !(seconds > 0) { throw CLIUsageError("--seconds must be positive") }
        if tokens < 0 { throw CLIUsageError("--tokens must be 0 or more") }
        for name in formats where DType(blockFormatName: name) == nil {
            throw CLIUsageError("--weights: unknown format '\(name)'; expected \(DType.blockFormats.map(\.userName).joined(separator: ", "))")
        }
    }

    var formats: [String] { weights.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        let dir = URL(fileURLWithPath: model)
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        if let dump { try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true) }

        // The reference: its sequence and logits; the model is released before the next loads.
        var sequence: WeightFidelity.Sequence
        var reference: [Float]
        var vocab = 0
        do {
            log("reference: loading \(model) ...")
            let ref = try VibeVoiceASRModel(directory: dir)
            if ref.config.quantization != nil {
                throw CLIUsageError("--model must be a BF16/F16/F32 checkpoint; \(model) is quantised")
            }
            vocab = ref.config.decoder.vocabSize
            if let ids {
                let data = try Data(contentsOf: URL(fileURLWithPath: ids))
                guard let list = try JSONSerialization.jsonObject(with: data) as? [Int], !list.isEmpty else {
                    throw CLIUsageError("--ids \(ids) must hold a non-empty JSON array of token ids")
                }
                sequence = WeightFidelity.textSequence(list)
            } else {
                var samples: [Float]
                if let audio {
                    samples = try AudioLoader.load(contentsOf: URL(fileURLWithPath: audio),
                                                   audioStream: audioStreamOption.audioStream).samples
                } else {
                    let n = Int(seconds * 24000)
                    var rng = SeededRandom(seed: 3)
                    samples = (0..<n).map { i in
                        let s = Double(i) / 24000
                        return Float(0.3 * sin(2 * Double.pi * (220 + 40 * sin(s)) * s)) + 0.05 * rng.nextGaussian()
                    }
                }
                let tokURL = tokenizer.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("tokenizer.json")
                let builder = FileManager.default.fileExists(atPath: tokURL.path)
                    ? try PromptBuilder(tokenizer: Tokenizer(url: tokURL), hopLength: ref.hopLength, sampleRate: 24000) : nil
                log("reference: prompt and \(tokens) greedy tokens ...")
                sequence = try WeightFidelity.referenceSequence(model: ref, promptBuilder: builder, samples: samples,
                                                                 continuation: tokens)
            }
            log("reference: teacher-forcing \(sequence.ids.count) positions ...")
            reference = try WeightFidelity.logits(model: ref, sequence: sequence)
        }
        if let dump {
            let data = try JSONSerialization.data(withJSONObject: ["ids": sequence.ids, "prompt_length": sequence.promptLength,
                                                                    "vocab": vocab])
            try data.write(to: URL(fileURLWithPath: dump).appendingPathComponent("ids.json"))
            try write(reference, to: "logits-stored.f32")
        }

        var results: [WeightFidelity.Result] = []
        // (name, load, integer prefill): each candidate once as asked, and again with the integer prefill.
        var candidates: [(String, () throws -> VibeVoiceASRModel, Bool)] = formats.map { name in
            (name, { try VibeVoiceASRModel(directory: dir, weights: DType(blockFormatName: name)!) }, false)
        }
        for q in quantized {
            candidates.append((URL(fileURLWithPath: q).lastPathComponent, { try VibeVoiceASRModel(directory: URL(fileURLWithPath: q)) }, false))
        }
        if int8Prefill {
            // Every candidate is a block format (a quantised checkpoint's is checked once loaded).
            for (name, load, _) in candidates {
                candidates.append((name + "+int8-prefill", load, true))
            }
        }
        if kvCacheF16 {
            candidates.append(("stored+kv-f16", { try VibeVoiceASRModel(directory: dir, kvCache: .f16) }, false))
        }
        for (name, load, integer) in candidates {
            log("\(name): loading and teacher-forcing ...")
            let logits: [Float]
            let bytes: Int
            do {
                let m = try load()
                if integer {
                    guard m.decoder.mainWeightFormat.isBlockFormat else {
                        log("\(name): skipped (the integer prefill needs q8_0 or q4_0 weights)")
                        continue
                    }
                    Linear.int8GEMM = true
                }
                defer { Linear.int8GEMM = false }
                logits = try WeightFidelity.logits(model: m, sequence: sequence)
                bytes = m.decoder.weightBytesPerToken
            }
            if dump != nil { try write(logits, to: "logits-\(name).f32") }
            results.append(WeightFidelity.compare(reference: reference, candidate: logits, vocab: vocab,
                                                  promptLength: sequence.promptLength, weights: name,
                                                  decodeBytesPerToken: bytes))
        }

        if json {
            let object: [String: Any] = ["reference": "stored", "positions": sequence.ids.count,
                                         "prompt_length": sequence.promptLength, "results": results.map(\.json)]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print(String(format: "%d teacher-forced positions (%d prompt, %d generated by the stored weights)",
                     sequence.ids.count, sequence.promptLength, sequence.ids.count - sequence.promptLength))
        print("weights      GB/token  mean KL      max KL      top-1    top-1 (gen)  max |dlogit|  mean |dlogit|")
        for r in results {
            let name = r.weights.padding(toLength: max(12, r.weights.count), withPad: " ", startingAt: 0)
            print(name + String(format: " %7.2f  %.3e  %.3e  %6.2f%%  %6.2f%%      %9.4f     %9.5f",
                         Double(r.decodeBytesPerToken) / 1e9, r.meanKL, r.maxKL, 100 * r.top1Agreement,
                         100 * r.generatedTop1Agreement, r.maxLogitError, r.meanAbsLogitError))
        }
    }

    private func write(_ values: [Float], to name: String) throws {
        guard let dump else { return }
        let data = values.withUnsafeBytes { Data($0) }
        try data.write(to: URL(fileURLWithPath: dump).appendingPathComponent(name))
    }
}
