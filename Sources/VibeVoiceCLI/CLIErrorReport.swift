import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceHub

/// Maps library errors to the documented exit codes and a one-line message:
/// 1 input or usage error; 2 model, tokenizer or download error; 3 internal failure.
enum CLIErrorReport {
    static func describe(_ error: Error) -> (Int32, String) {
        switch error {
        case let e as CLIUsageError: return (1, e.message)
        case let e as NamedInputError: return (e.code, e.message)
        case let e as ValidationError: return (1, e.message)
        case let e as AudioError: return (1, e.description)
        case let e as ConversationError: return (1, e.description)
        case let e as ConfigError: return (2, e.description)
        case let e as CheckpointError: return (2, e.description)
        case let e as TokenizerError: return (2, e.description)
        case let e as PromptBuilderError: return (2, e.description)
        case let e as TranscriberError:
            if case .outOfMemory = e { return (1, e.description) }
            return (2, e.description)
        case let e as SafetensorsWriteError: return (1, e.description)
        case let e as QuantizeError: return (1, e.description)
        case let e as ModelLocatorError: return (2, e.description)
        case let e as HubError: return (2, e.description)
        case ModelRunError.emptyAudio: return (1, ModelRunError.emptyAudio.description)
        case let e as ModelRunError: return (3, e.description)
        case let e as CustomStringConvertible: return (3, e.description)
        default: return (3, String(describing: error))
        }
    }
}

/// An error the CLI raises itself for bad input or flags (exit code 1).
struct CLIUsageError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Another error, its message prefixed with the input it concerns (the exit code is kept).
struct NamedInputError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { message }
}
