/// A conversation about audio: messages with a role and content, in the shape of the reference's chat
/// messages (`{"role": "user", "content": [{"type": "audio", ...}, {"type": "text", "text": "..."}]}`).
///
/// The text room knows no audio: an audio item names a file (`path`) or only a length (`samples`, for
/// rendering a prompt without the audio). Whoever runs the model supplies each item's sample count at
/// 24 kHz when the conversation is rendered (`ConversationRenderer`).
public struct Conversation: Sendable, Equatable {
    public var messages: [Message]

    public init(_ messages: [Message] = []) {
        self.messages = messages
    }

    /// Every audio item, in the order it appears (message by message, item by item): the order in which
    /// the reference assigns audio durations and fills audio slots.
    public var audioItems: [AudioReference] {
        messages.flatMap { m -> [AudioReference] in
            guard case .items(let items) = m.content else { return [] }
            return items.compactMap { if case .audio(let a) = $0 { return a } else { return nil } }
        }
    }
}

public enum Role: String, Sendable, Equatable, CaseIterable {
    case system, user, assistant
}

public struct Message: Sendable, Equatable {
    public var role: Role
    public var content: MessageContent

    public init(role: Role, content: MessageContent) {
        self.role = role
        self.content = content
    }

    public static func user(_ items: [ContentItem]) -> Message { Message(role: .user, content: .items(items)) }
    public static func assistant(_ text: String) -> Message { Message(role: .assistant, content: .items([.text(text)])) }
    public static func system(_ text: String) -> Message { Message(role: .system, content: .items([.text(text)])) }

    /// The message's text items joined by a newline (a plain-string content as it is).
    public var text: String {
        switch content {
        case .string(let s): return s
        case .items(let items):
            return items.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined(separator: "\n")
        }
    }
}

/// A message's content. The two forms are kept apart because the reference's chat template treats them
/// differently: it finds no items in a plain string, so a plain-string user turn renders empty there.
public enum MessageContent: Sendable, Equatable {
    /// `"content": "text"`.
    case string(String)
    /// `"content": [{"type": ...}, ...]`.
    case items([ContentItem])
}

public enum ContentItem: Sendable, Equatable {
    case text(String)
    case audio(AudioReference)
}

/// An audio item: a file, or only a length.
public struct AudioReference: Sendable, Equatable {
    /// The file, as written in the conversation (relative paths are resolved by whoever loads the audio).
    public var path: String?
    /// Its length in samples at 24 kHz, when known without decoding the file.
    public var sampleCount: Int?

    public init(path: String? = nil, sampleCount: Int? = nil) {
        self.path = path
        self.sampleCount = sampleCount
    }

    public static func file(_ path: String) -> AudioReference { AudioReference(path: path) }
    public static func samples(_ n: Int) -> AudioReference { AudioReference(sampleCount: n) }
}

/// A conversation that cannot be read or rendered.
public enum ConversationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file is not a JSON array of messages (with the JSON error and byte offset).
    case invalidJSON(String)
    /// A field is missing or has the wrong type: `where` says which message and item.
    case invalidField(where: String, expected: String)
    /// Rendering needs one sample count per audio item.
    case audioCountMismatch(items: Int, sampleCounts: Int)
    /// The reference template raises here (its message is kept); `hint` says what to change.
    case reference(String, hint: String)

    public var description: String {
        switch self {
        case let .invalidJSON(message):
            return "the conversation is not valid JSON (\(message)); expected an array of messages " +
                "[{\"role\": \"user\", \"content\": [{\"type\": \"audio\", \"path\": \"a.wav\"}, {\"type\": \"text\", \"text\": \"...\"}]}]"
        case let .invalidField(place, expected):
            return "conversation \(place): expected \(expected)"
        case let .audioCountMismatch(items, counts):
            return "the conversation has \(items) audio item(s) but \(counts) audio length(s) were given"
        case let .reference(message, hint):
            return "the reference chat template cannot render this conversation: \(message); \(hint)"
        }
    }
}
