import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// `vibevoice-asr score`: how likely the model finds a transcript of an audio file (teacher forcing).
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Teacher-force a transcript after the transcription prompt: its NLL, perplexity, and transformers' training loss.",
        discussion: """
            The transcript may be a raw model output (kept as written), or a json / verbose_json transcript of \
            this tool (rendered back into the model's own output format). Printed: nll (mean negative \
            log-likelihood of the transcript's tokens and the closing <|im_end|>), perplexity, tokens, and \
            reference_loss: transformers' loss with output_labels=True for [user: audio + context, assistant: \
            transcript]. The reference's chat template drops the assistant turn, so reference_loss covers the \
            prompt's text only and does not depend on the transcript. verbose_json adds per-token \
            log-probabilities and per-segment averages.
            """)

    @Argument(help: ArgumentHelp("The audio file.", valueName: "audio"))
    var input: String

    @OptionGroup var audioStreamOption: AudioStreamOption

    @Option(help: ArgumentHelp("The transcript file ('-': standard input).", valueName: "file"))
    var transcript: String

    @OptionGroup var source: ModelOptions

    @Option(help: ArgumentHelp("Extra information in the prompt, as for transcribe (trimmed).", valueName: "text"))
    var context: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("json or verbose_json.", valueName: "format"))
    var format: String = "json"

    @Option(help: ArgumentHelp("Threads for the kernels and BLAS (default: all cores).", valueName: "n"))
    var threads: Int?

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard ["json", "verbose_json"].contains(format) else {
            throw CLIUsageError("unknown --format '\(format)'; expected json or verbose_json")
        }
        if let n = threads, n < 1 { throw CLIUsageError("--threads must be at least 1") }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        let display = ProgressDisplay(quiet: quiet, verbose: false)
        guard FileManager.default.fileExists(atPath: input) else { throw CLIUsageError("audio file '\(input)' does not exist") }
        let body = try readTranscript()
        let signal = try AudioLoader.load(contentsOf: URL(fileURLWithPath: input), audioStream: audioStreamOption.audioStream)
        let transcriber = try source.transcriber(display: display)
        let result = try transcriber.score(samples: signal.samples, body: body,
                                           context: TranscribeCommand.foldContext(context, hotwords: nil))
        display.clear()
        FileHandle.standardOutput.write(Data(Self.render(result, verbose: format == "verbose_json",
                                                         tokenizer: transcriber.tokenizer).utf8))
    }

    private func readTranscript() throws -> String {
        let data: Data
        if transcript == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard FileManager.default.fileExists(atPath: transcript) else {
                throw CLIUsageError("transcript file '\(transcript)' does not exist")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: transcript))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIUsageError("transcript '\(transcript)' is not UTF-8 text")
        }
        let body = try ModelOutputFormat.body(ofTranscriptFile: text)
        guard !body.isEmpty else { throw CLIUsageError("transcript '\(transcript)' is empty: nothing to score") }
        return body
    }

    static func render(_ r: ScoreResult, verbose: Bool, tokenizer: Tokenizer) -> String {
        var fields = [
            "\"nll\": \(RenderJSON.number(r.nll))",
            "\"perplexity\": \(RenderJSON.number(r.perplexity))",
            "\"tokens\": \(r.tokens.count)",
            "\"reference_loss\": \(RenderJSON.number(r.referenceLoss))",
            "\"reference_loss_tokens\": \(r.referenceLabelledPositions)",
        ]
        guard verbose else { return "{" + fields.joined(separator: ", ") + "}\n" }
        fields.append("\"prompt_tokens\": \(r.promptTokens)")
        fields.append("\"transcript\": \(RenderJSON.string(r.body))")
        let segments = r.segments.enumerated().map { i, s in
            "    {\"id\": \(i), \"start\": \(RenderJSON.seconds(s.start)), \"end\": \(RenderJSON.seconds(s.end)), "
                + "\"speaker\": \(RenderJSON.int(s.speaker)), \"text\": \(RenderJSON.string(s.text)), "
                + "\"avg_logprob\": \(s.avgLogprob.map(RenderJSON.number) ?? "null")}"
        }
        fields.append("\"segments\": [" + (segments.isEmpty ? "]" : "\n" + segments.joined(separator: ",\n") + "\n  ]"))
        let tokens = zip(r.tokens, r.tokenLogprobs).map { id, lp in
            "    {\"id\": \(id), \"text\": \(RenderJSON.string(tokenizer.decode([id]))), \"logprob\": \(RenderJSON.number(lp))}"
        }
        fields.append("\"token_logprobs\": [\n" + tokens.joined(separator: ",\n") + "\n  ]")
        return "{\n  " + fields.joined(separator: ",\n  ") + "\n}\n"
    }
}
