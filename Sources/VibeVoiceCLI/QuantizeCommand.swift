import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// Writes a quantised copy of a checkpoint that loads like any other.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a copy of a checkpoint with the decoder in a block format (q8_0 or q4_0).",
        discussion: """
        The decoder's matrices, the LM head and the token embedding are quantised; the speech encoders, \
        projector, norms and biases keep their stored dtype. The output is a new directory (it must not \
        exist): safetensors shards of at most --max-shard-gb, model.safetensors.index.json, config.json with a \
        quantization_config entry, and the tokenizer and processor files. It appears whole or not at all.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("A local model directory, or a Hugging Face repo id.", valueName: "dir-or-repo"))
    var model: String

    @Option(help: ArgumentHelp("Branch, tag or commit of a Hub model.", valueName: "rev"))
    var revision: String = "main"

    @Option(help: ArgumentHelp("Block format: q8_0 (8.5 bits per weight) or q4_0 (4.5 bits per weight).", valueName: "format"))
    var to: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The new checkpoint directory (must not exist).", valueName: "dir"))
    var output: String

    @Option(help: ArgumentHelp("A tokenizer.json (or a directory holding one) to copy when the model has none.", valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("Largest shard, in GB (10^9 bytes).", valueName: "gb"))
    var maxShardGb: Double = 1.9

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    func validate() throws {
        if DType(blockFormatName: to) == nil {
            throw CLIUsageError("--to must be one of: \(DType.blockFormats.map(\.userName).joined(separator: ", "))")
        }
        if !(maxShardGb >= 0.001 && maxShardGb <= 1000) { throw CLIUsageError("--max-shard-gb must be between 0.001 and 1000") }
    }

    func run() throws {
        let format = DType(blockFormatName: to)!
        let display = ProgressDisplay(quiet: quiet, verbose: false)
        if FileManager.default.fileExists(atPath: output) {
            throw CLIUsageError("output '\(output)' already exists; quantize writes a new directory and never replaces one")
        }
        let input = try ModelLocator.resolve(model, revision: revision, display: display)
        if URL(fileURLWithPath: output).standardizedFileURL.path.hasPrefix(input.standardizedFileURL.path + "/") {
            throw CLIUsageError("--output must not lie inside the input checkpoint directory")
        }
        let start = Date()
        display.begin("quantize \(format.userName)")
        let options = CheckpointQuantizer.Options(format: format, maxShardBytes: Int(maxShardGb * 1e9),
                                                  tokenizer: tokenizer.map { URL(fileURLWithPath: $0) })
        let summary: CheckpointQuantizer.Summary
        do {
            summary = try CheckpointQuantizer.quantize(input: input, output: URL(fileURLWithPath: output), options: options) { event in
                if case let .wrote(done, total, _) = event {
                    let rate = Double(done) / max(1e-9, Date().timeIntervalSince(start)) / 1e6
                    display.update(fraction: Double(done) / Double(max(1, total)),
                                   detail: String(format: "%.2f/%.2f GB, %.0f MB/s", Double(done) / 1e9, Double(total) / 1e9, rate))
                }
            }
        } catch let e as QuantizeError {
            display.clear()
            throw CLIUsageError(e.description)
        }
        display.clear()
        if !quiet {
            let seconds = Date().timeIntervalSince(start)
            display.message(String(format: "wrote %@: %d tensors in %@, %d shard(s), %.2f GB in %.1f s",
                                   summary.output.path, summary.quantizedTensors, format.userName, summary.shards.count,
                                   Double(summary.totalBytes) / 1e9, seconds))
        }
    }
}
