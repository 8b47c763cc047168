import Foundation
import VibeVoiceASR

/// Turns `--model` into a local checkpoint directory.
enum ModelLocator {
    static let defaultRepo = "microsoft/VibeVoice-ASR-HF"

    static func resolve(_ model: String, revision: String, display: ProgressDisplay) throws -> URL {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw ModelLocatorError.notADirectory(model)
            }
            return URL(fileURLWithPath: model)
        }
        throw ModelLocatorError.notFound(model)
    }
}

enum ModelLocatorError: Error, CustomStringConvertible {
    case notADirectory(String)
    case notFound(String)

    var description: String {
        switch self {
        case let .notADirectory(p): return "--model '\(p)' is a file; pass the checkpoint directory (config.json and *.safetensors)"
        case let .notFound(p): return "model '\(p)' is neither a local directory nor a Hugging Face repo id that could be resolved"
        }
    }
}
