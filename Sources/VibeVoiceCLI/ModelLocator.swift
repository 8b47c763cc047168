import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute
import VibeVoiceHub

/// Turns `--model` into a local checkpoint directory: an existing directory is used as it is;
/// otherwise `ORG/NAME` is fetched from the Hugging Face Hub into the shared cache (or found there).
enum ModelLocator {
    static let defaultRepo = "microsoft/VibeVoice-ASR-HF"

    static func resolve(_ model: String, revision: String, display: ProgressDisplay) throws -> URL {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ModelLocatorError.notADirectory(model) }
            return URL(fileURLWithPath: model)
        }
        guard HubClient.isRepoID(model) else { throw ModelLocatorError.notFound(model) }
        let client = HubClient()
        do {
            return try client.snapshot(repo: model, revision: revision, progress: { event in display.download(event) })
        } catch let error as HubError {
            let message = error.description
            // Every message names the repo, so the user knows which --model failed.
            throw message.contains(model) ? ModelLocatorError.download(message)
                : ModelLocatorError.download("cannot fetch model '\(model)' (revision \(revision)): \(message)")
        }
    }
}

enum ModelLocatorError: Error, CustomStringConvertible {
    case notADirectory(String)
    case notFound(String)
    case download(String)

    var description: String {
        switch self {
        case let .notADirectory(p):
            return "--model '\(p)' is a file; pass the checkpoint directory (config.json and *.safetensors) or a Hub repo id"
        case let .notFound(p):
            return "model '\(p)' is not a local directory, nor a Hugging Face repo id of the form ORG/NAME"
        case let .download(message):
            return message
        }
    }
}

/// `--model`, `--revision`, `--tokenizer`: where the checkpoint and tokenizer come from (chat, score).
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong,
            help: ArgumentHelp("A local model directory, or a Hugging Face repo id.", valueName: "dir-or-repo"))
    var model: String = ModelLocator.defaultRepo

    @Option(help: ArgumentHelp("Branch, tag or commit of a Hub model.", valueName: "rev"))
    var revision: String = "main"

    @Option(help: ArgumentHelp("A tokenizer.json, or a directory holding one (needed for the original microsoft/VibeVoice-ASR checkpoint, which ships none).",
                               valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("Quantise a BF16/F16/F32 checkpoint's decoder while loading: q8_0 or q4_0 (default: the stored weights).",
                               valueName: "format"))
    var weights: String?

    /// The block format `--weights` names, if any.
    var weightFormat: DType? { weights.flatMap { DType(blockFormatName: $0) } }

    func validate() throws {
        if let w = weights, DType(blockFormatName: w) == nil {
            throw CLIUsageError("--weights must be one of: \(DType.blockFormats.map(\.userName).joined(separator: ", "))")
        }
    }

    /// Resolves the model (downloading it if needed) and loads the pipeline.
    /// `deferDecoder`: build the decoder (quantise it with `--weights`) after the first encoding (lower peak for one clip).
    func transcriber(display: ProgressDisplay, kvCache: KVCache.Format = .f32, deferDecoder: Bool = false) throws -> Transcriber {
        let dir = try ModelLocator.resolve(model, revision: revision, display: display)
        if let f = weightFormat, !deferDecoder { display.begin("load (quantising to \(f.userName))") }
        defer { display.clear() }
        return try Transcriber(modelDirectory: dir, tokenizerPath: tokenizer.map { URL(fileURLWithPath: $0) },
                               weights: weightFormat, kvCache: kvCache, deferDecoder: deferDecoder)
    }
}

/// `--temperature`, `--top-p`, `--seed`, `--repetition-penalty` (transcribe, chat).
struct SamplingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Sampling temperature; 0 is greedy, the reference behaviour.", valueName: "t"))
    var temperature: Float = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("Nucleus sampling threshold (with --temperature > 0).", valueName: "p"))
    var topP: Float = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed for sampling (and, in transcribe, for --acoustic-noise).", valueName: "n"))
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("Penalty > 1 discourages repeating tokens (1 = off).", valueName: "r"))
    var repetitionPenalty: Float = 1

    func validate() throws {
        if temperature < 0 || !temperature.isFinite { throw CLIUsageError("--temperature must be 0 or more") }
        if !(topP > 0 && topP <= 1) { throw CLIUsageError("--top-p must be in (0, 1]") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite { throw CLIUsageError("--repetition-penalty must be positive") }
    }
}
