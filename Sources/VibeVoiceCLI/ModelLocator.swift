import Foundation
import VibeVoiceASR
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
