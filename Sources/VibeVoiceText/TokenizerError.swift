/// Why a tokenizer could not be loaded or used. `description` is the one-line user message.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Neither the path nor `<path>/tokenizer.json` exists.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not JSON, or not a JSON object.
    case malformedJSON(path: String, detail: String)
    /// A field is missing or has the wrong shape.
    case invalidField(path: String, field: String, expected: String)
    /// A well-formed setting this implementation does not support (model type, normaliser, pattern...).
    case unsupported(path: String, field: String, value: String)
    /// A token the caller needs (for example a chat-template marker) is not in the tokenizer.
    case missingToken(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "no tokenizer.json at \(path): a Hugging Face tokenizer.json (Qwen2.5's) is needed, and the "
                + "original microsoft/VibeVoice-ASR checkpoint ships none; pass --tokenizer with the path of a "
                + "tokenizer.json (or of a folder holding one), e.g. from Qwen/Qwen2.5-7B"
        case .unreadable(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .malformedJSON(let path, let detail):
            return "tokenizer file \(path) is not valid tokenizer JSON: \(detail)"
        case .invalidField(let path, let field, let expected):
            return "tokenizer file \(path): field \(field) is invalid; expected \(expected)"
        case .unsupported(let path, let field, let value):
            return "tokenizer file \(path): unsupported \(field) \(value) "
                + "(supported: byte-level BPE tokenizers such as Qwen2.5's)"
        case .missingToken(let token):
            return "the tokenizer has no token \(token); a Qwen2.5 tokenizer.json is needed"
        }
    }
}
