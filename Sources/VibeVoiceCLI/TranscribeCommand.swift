import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// Runs the whole pipeline: audio files in, transcripts out.
struct TranscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Transcribe audio files: who spoke when, and what they said.",
        discussion: """
        With one input and no --output-dir the transcript goes to standard output. With --output-dir, one \
        file per input and format is written there (NAME.json, NAME.verbose.json, NAME.diarized.json, NAME.txt, \
        NAME.srt, NAME.vtt, NAME.rttm), each whole or not at all; an input is never overwritten. '-' reads the \
        file from standard input (any format, held in memory, up to 2 GiB); its outputs are named stdin.json, ...
        """
    )

    @Argument(help: ArgumentHelp("Audio or video files (WAV, FLAC, MP3, Ogg, M4A/AAC, ALAC, WMA, AMR, AIFF; the audio of MP4, MOV, MKV, WebM, AVI; any rate and channel count), or '-' for standard input.",
                                 valueName: "audio"))
    var inputs: [String]

    @OptionGroup var audioStreamOption: AudioStreamOption

    @OptionGroup var source: ModelOptions

    @Option(name: .shortAndLong,
            help: ArgumentHelp("Output format: json, verbose_json, diarized_json, text, srt, vtt, rttm. May repeat with --output-dir.",
                               valueName: "format"))
    var format: [String] = []

    @Option(help: ArgumentHelp("Write one file per input and format into this directory.", valueName: "dir"))
    var outputDir: String?

    @Option(help: ArgumentHelp("Extra information for the model: names, topic, spellings.", valueName: "text"))
    var context: String?

    @Option(help: ArgumentHelp("The custom prompt of transformers' apply_transcription_request, verbatim: like --context but not trimmed, exactly as the reference renders it.",
                               valueName: "text"))
    var prompt: String?

    @Option(help: ArgumentHelp("Comma-separated words the model should expect (folded into the context).",
                               valueName: "a,b,c"))
    var hotwords: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Token budget per input (default: scaled to the audio duration, 512 + 12 per second, at most 32768).",
                               valueName: "n"))
    var maxNewTokens: Int?

    @OptionGroup var sampling: SamplingOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads for the kernels and BLAS (default: all cores).", valueName: "n"))
    var threads: Int?

    @OptionGroup var runtime: DecoderRuntimeOptions

    @Flag(help: "Also stop at <|im_end|> (same transcript, one token sooner) instead of only <|endoftext|>.")
    var stopAtImEnd = false

    @Flag(help: "Add σ-VAE noise to the acoustic latents, as the reference's default sampling does (seeded by --seed).")
    var acousticNoise = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Refuse audio longer than this many seconds.", valueName: "seconds"))
    var maxDuration: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Longest audio transcribed in one pass; longer audio is split into windows at quiet points (speaker ids restart per window).",
                               valueName: "seconds"))
    var maxSinglePass: Double = 3600

    @Flag(help: "Transcribe what decoded from a damaged or cut-short audio file (a warning says how much) instead of stopping.")
    var allowPartialAudio = false

    @Flag(help: "Do not detect and recover from repetition loops.")
    var noLoopRecovery = false

    @Option(help: ArgumentHelp("Write the 24 kHz mono float WAV that goes into the encoders (one input only).",
                               valueName: "path"))
    var saveAudio: String?

    @Option(help: ArgumentHelp("Decode up to N inputs together, sharing each pass over the weights (continuous batching; every transcript is the same as with 1).",
                               valueName: "n"))
    var batch: Int = 1

    @Flag(help: "Do not use exact speculative decoding (drafts from the transcript's structure, verified several tokens per step; the output is the same either way).")
    var noSpeculative = false

    @Flag(help: "Print each segment on standard output as soon as it is complete.")
    var stream = false

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Per-stage timings and the real-time factor.")
    var verbose = false

    func validate() throws {
        if inputs.isEmpty { throw CLIUsageError("no audio file given") }
        let stdinInputs = inputs.filter { $0 == StandardInputAudio.argument }.count
        if stdinInputs > 1 { throw CLIUsageError("'-' (standard input) can be given once") }
        if stdinInputs == 1 { try StandardInputAudio.checkPiped() }
        if inputs.count > 1 && outputDir == nil {
            throw CLIUsageError("several inputs need --output-dir (one output file per input and format)")
        }
        if outputDir == nil && format.count > 1 {
            throw CLIUsageError("several --format values need --output-dir")
        }
        if saveAudio != nil && inputs.count > 1 { throw CLIUsageError("--save-audio takes one input") }
        if prompt != nil && (context != nil || hotwords != nil) {
            throw CLIUsageError("--prompt is the reference's verbatim prompt; it cannot be combined with --context or --hotwords (use one or the other)")
        }
        if let n = maxNewTokens, !(1...Self.maxTokenBudget).contains(n) {
            throw CLIUsageError("--max-new-tokens must be between 1 and \(Self.maxTokenBudget) (the decoder's context length), got \(n)")
        }
        try CLILimits.checkThreads(threads)
        if !(1...Self.maxBatch).contains(batch) { throw CLIUsageError("--batch must be between 1 and \(Self.maxBatch), got \(batch)") }
        if let d = maxDuration, !(d > 0 && d.isFinite) { throw CLIUsageError("--max-duration must be a positive number of seconds") }
        if !(maxSinglePass >= 10 && maxSinglePass.isFinite) { throw CLIUsageError("--max-single-pass must be at least 10 seconds") }
    }

    /// The largest --max-new-tokens: the released decoder's context (max_position_embeddings).
    static let maxTokenBudget = 131_072
    /// Most inputs decoded together (each slot holds its own KV cache).
    static let maxBatch = 16

    func run() throws {
        let formats = try outputFormats()
        if let threads { ComputeThreads.set(threads) }
        let display = ProgressDisplay(quiet: quiet, verbose: verbose)

        // Check inputs and outputs before the (slow) model load.
        for input in inputs where input != StandardInputAudio.argument {
            guard FileManager.default.fileExists(atPath: input) else {
                throw CLIUsageError("audio file '\(input)' does not exist")
            }
        }
        if let outputDir {
            try OutputFile.checkDirectory(outputDir, option: "--output-dir")
            try OutputFile.checkNoCollisions(OutputNaming.plan(inputs: inputs, formats: formats, directory: outputDir))
        }

        // Decode the first input before the model is resolved, so bad audio fails at once rather
        // than after a download or a load.
        var firstSignal: AudioSignal?
        var firstError: Error?
        do {
            firstSignal = try decodeAudio(inputs[0], display: display)
        } catch {
            if inputs.count == 1 { throw Self.naming(error, input: inputs[0]) }
            firstError = error
        }

        let loadStart = Date()
        // The decoder is built after the first input is encoded (quantised with --weights; its verbose line says
        // how long), so that it is not resident while the encoders run.
        let transcriber = try source.transcriber(display: display, kvCache: runtime.kvCache, deferDecoder: true)
        if source.weightFormat == nil { display.decoderStageName = "load decoder" }
        let integerPrefill = try runtime.applyPrefill(for: transcriber.model.decoderWeightFormat)
        let format = source.weightFormat
        let loadSeconds = Date().timeIntervalSince(loadStart)
        if verbose {
            var note = ""
            if let format {
                note = transcriber.model.decoderIsLoaded
                    ? String(format: ", decoder quantised to %@ (%.2f GB streamed per token)", format.userName,
                             Double(transcriber.model.decoder.weightBytesPerToken) / 1e9)
                    : ", decoder to be quantised to \(format.userName) after the first encoding"
            }
            if integerPrefill { note += ", integer prefill" }
            if let core = BLASCore.current { note += ", BLAS kernels \(core)" }
            display.message(String(format: "load: %.2f s%@", loadSeconds, note))
        }

        var options = TranscriptionOptions(context: Self.foldContext(context, hotwords: hotwords), maxNewTokens: maxNewTokens)
        options.prompt = prompt
        options.temperature = sampling.temperature
        options.topP = sampling.topP
        options.repetitionPenalty = sampling.repetitionPenalty
        options.seed = sampling.seed
        options.stopAtImEnd = stopAtImEnd
        options.acousticNoiseSeed = acousticNoise ? sampling.seed : nil
        options.maxSinglePassSeconds = maxSinglePass
        options.loopRecovery = !noLoopRecovery
        options.speculative = !noSpeculative

        if batch > 1 && inputs.count > 1 {
            return try runBatch(transcriber: transcriber, options: options, formats: formats, display: display,
                                first: firstSignal, firstError: firstError)
        }
        var failures: [(String, Error)] = []
        for (i, input) in inputs.enumerated() {
            do {
                let signal: AudioSignal
                if i == 0 {
                    if let firstError { throw firstError }
                    signal = firstSignal!
                    firstSignal = nil      // the pipeline keeps its own copy; free this one early
                } else {
                    signal = try decodeAudio(input, display: display)
                }
                try transcribeOne(input, signal: signal, transcriber: transcriber, options: options,
                                  formats: formats, display: display)
            } catch {
                if inputs.count == 1 { throw Self.naming(error, input: input) }
                let (_, message) = CLIErrorReport.describe(error)
                display.clear()
                let label = StandardInputAudio.label(input)
                let named = message.contains(label) ? message : "\(label): \(message)"
                FileHandle.standardError.write(Data("error: \(named)\n".utf8))
                failures.append((input, error))
            }
        }
        if let first = failures.first {
            let (code, _) = CLIErrorReport.describe(first.1)
            throw ExitCode(code)
        }
    }

    /// Decodes one input to 24 kHz mono (and writes it to --save-audio when asked).
    func decodeAudio(_ input: String, display: ProgressDisplay) throws -> AudioSignal {
        display.handle(.stageStarted(.audio))
        let t0 = Date()
        // Decoder libraries (libmpg123) print notes on standard error themselves; they are shown with
        // --verbose only (a real problem is an error or a warning of ours either way).
        let stream = audioStreamOption.audioStream
        let bytes = input == StandardInputAudio.argument ? try StandardInputAudio.read() : nil
        let (result, chatter) = StandardErrorCapture.run {
            Result {
                if let bytes {
                    return try AudioLoader.load(data: bytes, name: StandardInputAudio.name, maxDuration: maxDuration,
                                                allowPartial: allowPartialAudio, audioStream: stream)
                }
                return try AudioLoader.load(contentsOf: URL(fileURLWithPath: input), maxDuration: maxDuration,
                                            allowPartial: allowPartialAudio, audioStream: stream)
            }
        }
        if verbose, !chatter.isEmpty {
            for line in chatter.split(separator: "\n") { display.message("\(StandardInputAudio.label(input)): decoder: \(line)") }
        }
        let signal = try result.get()
        display.handle(.stageFinished(.audio, seconds: Date().timeIntervalSince(t0)))
        if let saveAudio {
            try OutputFile.checkNotInput(saveAudio, inputs: inputs)
            try WAVWriter.writeFloat32Mono(signal.samples, sampleRate: AudioSignal.sampleRate,
                                           to: URL(fileURLWithPath: saveAudio))
        }
        return signal
    }

    private func transcribeOne(_ input: String, signal: AudioSignal, transcriber: Transcriber,
                               options: TranscriptionOptions, formats: [OutputFormat], display: ProgressDisplay) throws {
        let streamer = SegmentStreamer(enabled: stream)
        let result = try transcriber.transcribe(samples: signal.samples, options: options) { event in
            display.handle(event)
            if case let .segment(s) = event { streamer.emit(s) }
        }
        try write(result, input: input, audioWarnings: signal.warnings, formats: formats, display: display)
    }

    /// Warnings, the verbose summary, and the output files (or standard output) of one input.
    func write(_ result: TranscriptionResult, input: String, audioWarnings: [String], formats: [OutputFormat],
               display: ProgressDisplay) throws {
        var transcript = result.transcript
        transcript.warnings = audioWarnings + transcript.warnings
        let label = StandardInputAudio.label(input)
        if transcript.isTruncated {
            display.warning("\(label): generation reached the token budget (\(transcript.tokens?.count ?? 0) tokens); \(transcript.segments.count) complete segment(s) kept. Raise --max-new-tokens for the rest.")
        }
        for warning in transcript.warnings { display.warning("\(label): \(warning)") }
        if verbose {
            let total = result.timings.values.reduce(0, +)
            display.message(String(format: "%@: %.1f s of audio in %.1f s (real-time factor %.2f), %d prompt + %d generated tokens in %d decode steps (%d drafted tokens accepted), %d window(s), %d loop recover%@",
                                   label, result.audioSeconds, total, total / max(1e-9, result.audioSeconds),
                                   transcript.promptTokens ?? 0, transcript.tokens?.count ?? 0, result.decodeSteps,
                                   result.acceptedDraftTokens, result.windows,
                                   result.loopRecoveries, result.loopRecoveries == 1 ? "y" : "ies"))
        }
        let fileID = OutputNaming.fileID(input)
        if let outputDir {
            for format in formats {
                let path = OutputNaming.path(input: input, format: format, directory: outputDir)
                try OutputFile.checkNotInput(path, inputs: inputs)
                let rendered = TranscriptRenderer.render(transcript, as: format, fileID: fileID)
                try OutputFile.writeAtomically(Data(rendered.utf8), to: path, input: input)
            }
        } else if !stream {
            let rendered = TranscriptRenderer.render(transcript, as: formats[0], fileID: fileID)
            FileHandle.standardOutput.write(Data(rendered.utf8))
        }
    }

    private func outputFormats() throws -> [OutputFormat] {
        if format.isEmpty { return [.json] }
        return try format.map { name in
            guard let f = OutputFormat(name: name) else {
                throw CLIUsageError("unknown format '\(name)'; expected one of: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return f
        }
    }

    /// `error` with the input's name in front when its message does not name it already.
    static func naming(_ error: Error, input: String) -> Error {
        let (code, message) = CLIErrorReport.describe(error)
        let label = StandardInputAudio.label(input)
        if message.contains(label) { return error }
        return NamedInputError(code: code, message: "\(label): \(message)")
    }

    /// Hotwords join the context as one more line.
    static func foldContext(_ context: String?, hotwords: String?) -> String? {
        var parts: [String] = []
        if let c = context?.trimmingCharacters(in: .whitespacesAndNewlines), !c.isEmpty { parts.append(c) }
        if let h = hotwords {
            let words = h.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if !words.isEmpty { parts.append("Hotwords: " + words.joined(separator: ", ")) }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }
}

/// Prints segments on standard output as they complete (`--stream`).
final class SegmentStreamer: @unchecked Sendable {
    let enabled: Bool
    /// Written before each line when several inputs stream at once (`--batch`).
    let label: String?
    init(enabled: Bool, label: String? = nil) {
        self.enabled = enabled
        self.label = label
    }

    func emit(_ s: Segment) {
        guard enabled else { return }
        let speaker = s.speaker.map { "Speaker \($0)" } ?? "Speaker ?"
        let line = (label.map { "\($0): " } ?? "") + "[\(Self.stamp(s.start)) --> \(Self.stamp(s.end))] \(speaker): \(s.text)\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    static func stamp(_ t: Double) -> String {
        let ms = Int((TranscriptTime.clamped(t) * 1000).rounded())
        return String(format: "%02d:%02d:%02d.%03d", ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000)
    }
}
