import Foundation
import VibeVoiceASR

/// Names of the files `transcribe --output-dir` writes: `NAME.json`, `NAME.verbose.json`, `NAME.diarized.json`, `NAME.txt`,
/// `NAME.srt`, `NAME.vtt`, `NAME.rttm`, where NAME is the input's file name without its extension (`stdin` for
/// standard input, `-`).
///
/// Two inputs can give the same name (`a/talk.wav` and `b/talk.flac`; `talk.wav` given twice; `x.verbose.wav`,
/// whose `json` is `talk.verbose.json`'s twin): such a run is refused before any work, naming the inputs,
/// so that no transcript silently replaces another.
enum OutputNaming {
    static func fileID(_ input: String) -> String {
        if input == StandardInputAudio.argument { return "stdin" }
        return URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
    }

    static func fileName(input: String, format: OutputFormat) -> String {
        let id = fileID(input)
        switch format {
        case .verboseJSON: return "\(id).verbose.json"
        case .diarizedJSON: return "\(id).diarized.json"
        default: return "\(id).\(format.fileExtension)"
        }
    }

    static func path(input: String, format: OutputFormat, directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(fileName(input: input, format: format)).path
    }

    /// Every (output path, input) pair the run would write, in order.
    static func plan(inputs: [String], formats: [OutputFormat], directory: String) -> [(output: String, input: String)] {
        var out: [(String, String)] = []
        var seenFormats = Set<OutputFormat>()
        let distinct = formats.filter { seenFormats.insert($0).inserted }   // `-f json -f json` is one file
        for input in inputs {
            for format in distinct { out.append((path(input: input, format: format, directory: directory), input)) }
        }
        return out
    }
}

extension OutputFile {
    /// Refuses a plan in which two inputs would write the same file, or an output would replace an input.
    static func checkNoCollisions(_ plan: [(output: String, input: String)]) throws {
        var owner: [String: String] = [:]
        let inputs = plan.map(\.input)
        for (output, input) in plan {
            if let first = owner[output] {
                let why = first == input ? "'\(input)' is given twice" : "'\(first)' and '\(input)' have the same name"
                throw CLIUsageError("\(why): both would be written to '\(output)'; rename one, or transcribe them "
                                        + "into different --output-dir folders")
            }
            owner[output] = input
            try checkNotInput(output, inputs: inputs)
        }
    }

    /// Refuses a directory option that names nothing, or a file.
    static func checkDirectory(_ path: String, option: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CLIUsageError("\(option) '\(path)' does not exist; create the folder first")
        }
        guard isDir.boolValue else {
            throw CLIUsageError("\(option) '\(path)' is a file, not a folder")
        }
    }
}
