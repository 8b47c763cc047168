import ArgumentParser
import Foundation
import VibeVoiceASR
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Re-renders a saved transcript (the model's raw output, or a `json`/`verbose_json` transcript) in another
/// format, without the model.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Re-render a saved transcript (raw model output, json or verbose_json) in another format.",
        discussion: """
        Formats: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")). \
        Without --output the result goes to standard output. The output file is written whole or not at all \
        (a temporary file, then a rename) and may not be the input file.
        """
    )

    @Argument(help: "The saved transcript: a raw model output, a json or a verbose_json transcript; '-' reads standard input.")
    var input: String

    @Option(name: .customLong("to"),
            help: ArgumentHelp("Output format: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")) (default: from the --output extension).",
                               valueName: "format"))
    var format: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var output: String?

    @Option(name: .customLong("file-id"),
            help: ArgumentHelp("File name written in RTTM lines (default: the input's name without extension, or 'audio').",
                               valueName: "id"))
    var fileID: String?

    func run() throws {
        let target = try outputFormat()
        let text = try readInput()
        let transcript: Transcript
        do {
            transcript = try TranscriptReader.read(text)
        } catch {
            throw CLIUsageError("\(input == "-" ? "standard input" : input): \(error.description)")
        }
        let rendered = TranscriptRenderer.render(transcript, as: target, fileID: fileID ?? defaultFileID())

        if transcript.isTruncated {
            warn("the transcript was cut short (its segment list is not closed); \(transcript.segments.count) complete segment(s) kept")
        }
        if transcript.segments.isEmpty, transcript.plainText != nil {
            warn("the input holds no segment list; it is kept as plain text")
        }
        for warning in transcript.warnings { warn(warning) }

        if let output {
            try OutputFile.writeAtomically(Data(rendered.utf8), to: output, input: input == "-" ? nil : input)
        } else {
            FileHandle.standardOutput.write(Data(rendered.utf8))
        }
    }

    private func outputFormat() throws -> OutputFormat {
        let names = OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")
        if let format {
            guard let f = OutputFormat(name: format) else {
                throw CLIUsageError("unknown format '\(format)' for --to; expected one of: \(names)")
            }
            return f
        }
        if let output, let f = OutputFormat(fileName: URL(fileURLWithPath: output).lastPathComponent) {
            return f
        }
        throw CLIUsageError("missing --to FORMAT (one of: \(names))")
    }

    private func readInput() throws -> String {
        let data: Data
        if input == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw CLIUsageError("input file '\(input)' does not exist")
            }
            guard !isDirectory.boolValue else {
                throw CLIUsageError("input '\(input)' is a directory, not a transcript file")
            }
            // FileHandle reads regular files, pipes and devices alike (`<(cmd)`, /dev/stdin); Data(contentsOf:)
            // misreports a device as a permission problem.
            guard let handle = FileHandle(forReadingAtPath: input) else {
                let reason = access(input, R_OK) != 0 ? String(cString: strerror(errno)) : "it cannot be opened"
                throw CLIUsageError("cannot read input file '\(input)': \(reason)")
            }
            defer { try? handle.close() }
            do {
                data = try handle.readToEnd() ?? Data()
            } catch {
                throw CLIUsageError("cannot read input file '\(input)': \(error.localizedDescription)")
            }
        }
        guard !data.isEmpty else {
            throw CLIUsageError("input '\(input == "-" ? "standard input" : input)' is empty (0 bytes); expected a saved "
                                    + "transcript (raw model output, json or verbose_json)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIUsageError("input '\(input == "-" ? "standard input" : input)' is not UTF-8 text")
        }
        return text
    }

    private func defaultFileID() -> String {
        guard input != "-" else { return "audio" }
        let base = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
        return base.isEmpty ? "audio" : base
    }

    private func warn(_ message: String) {
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }
}
