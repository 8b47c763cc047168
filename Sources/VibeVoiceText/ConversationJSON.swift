import VibeVoiceJSON

/// The conversation file format: a JSON array of messages, as the reference's chat messages are written:
///
///     [{"role": "system", "content": "You transcribe meetings."},
///      {"role": "user", "content": [{"type": "audio", "path": "meeting.wav"}, {"type": "text", "text": "Names: Ana, Raj"}]},
///      {"role": "assistant", "content": [{"type": "text", "text": "[{\"Start\":0,...}]"}]},
///      {"role": "user", "content": "Who spoke first?"}]
///
/// `role` is `system`, `user` or `assistant`; `content` is a string or a list of items: `{"type": "text",
/// "text": S}`, `{"type": "audio", "path": P}` or `{"type": "audio", "samples": N}` (a length at 24 kHz only,
/// enough to render a prompt; `path` and `samples` may both be given). Other members are ignored.
extension Conversation {
    /// Reads the file format from UTF-8 bytes.
    public static func read(json bytes: [UInt8]) throws -> Conversation {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes, options: JSONParseOptions(rejectDuplicateKeys: false, allowByteOrderMark: true))
        } catch {
            throw ConversationError.invalidJSON(error.description)
        }
        guard case .array(let list) = root else {
            throw ConversationError.invalidField(where: "(top level)", expected: "an array of messages, found \(root.kindDescription)")
        }
        return Conversation(try list.enumerated().map { try message($1, index: $0) })
    }

    public static func read(json text: String) throws -> Conversation {
        try read(json: Array(text.utf8))
    }

    private static func message(_ value: JSONValue, index: Int) throws -> Message {
        let place = "message \(index + 1)"
        guard case .object(let object) = value else {
            throw ConversationError.invalidField(where: place, expected: "an object with \"role\" and \"content\", found \(value.kindDescription)")
        }
        guard let roleName = object["role"]?.string else {
            throw ConversationError.invalidField(where: place, expected: "a \"role\" string (system, user or assistant)")
        }
        guard let role = Role(rawValue: roleName) else {
            throw ConversationError.invalidField(where: place, expected: "role system, user or assistant, found \"\(roleName)\"")
        }
        switch object["content"] {
        case .string(let s)?:
            return Message(role: role, content: .string(s))
        case .array(let items)?:
            let parsed = try items.enumerated().map { try item($1, place: "\(place), item \($0 + 1)") }
            return Message(role: role, content: .items(parsed))
        case let other:
            throw ConversationError.invalidField(
                where: place, expected: "\"content\" as a string or a list of items, found \(other?.kindDescription ?? "nothing")")
        }
    }

    private static func item(_ value: JSONValue, place: String) throws -> ContentItem {
        guard case .object(let object) = value, let type = object["type"]?.string else {
            throw ConversationError.invalidField(where: place, expected: "an object with a \"type\" (text or audio)")
        }
        switch type {
        case "text":
            guard let text = object["text"]?.string else {
                throw ConversationError.invalidField(where: place, expected: "a \"text\" string in a text item")
            }
            return .text(text)
        case "audio":
            var ref = AudioReference()
            if let p = object["path"] {
                guard let s = p.string, !s.isEmpty else {
                    throw ConversationError.invalidField(where: place, expected: "\"path\" as a non-empty string")
                }
                ref.path = s
            }
            if let n = object["samples"] {
                guard let count = n.int, count >= 0 else {
                    throw ConversationError.invalidField(where: place, expected: "\"samples\" as a whole number ≥ 0 (samples at 24 kHz)")
                }
                ref.sampleCount = count
            }
            guard ref.path != nil || ref.sampleCount != nil else {
                throw ConversationError.invalidField(where: place, expected: "an audio item with \"path\" (a file) or \"samples\" (a length at 24 kHz)")
            }
            return .audio(ref)
        default:
            throw ConversationError.invalidField(where: place, expected: "item type text or audio, found \"\(type)\"")
        }
    }

    /// The file format, one message per line, ending with a newline. Reading it back gives this conversation.
    public func jsonText() -> String {
        if messages.isEmpty { return "[]\n" }
        let lines = messages.map { m -> String in
            let content: String
            switch m.content {
            case .string(let s): content = RenderJSON.string(s)
            case .items(let items): content = "[" + items.map(Self.itemJSON).joined(separator: ", ") + "]"
            }
            return "  {\"role\": \"\(m.role.rawValue)\", \"content\": \(content)}"
        }
        return "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }

    private static func itemJSON(_ item: ContentItem) -> String {
        switch item {
        case .text(let t):
            return "{\"type\": \"text\", \"text\": \(RenderJSON.string(t))}"
        case .audio(let a):
            var fields = ["\"type\": \"audio\""]
            if let p = a.path { fields.append("\"path\": \(RenderJSON.string(p))") }
            if let n = a.sampleCount { fields.append("\"samples\": \(n)") }
            return "{" + fields.joined(separator: ", ") + "}"
        }
    }
}
